public import NIOCore
public import NIOHTTP1

/// A request as the responder sees it: head, connection facts, and the body as a stream.
public struct HTTPRequest {
    public let head: HTTPRequestHead
    public let body: RequestBody
    public let remoteAddress: String
    public let isTLS: Bool
    /// Unique per request, for logs.
    public let id: String

    /// A new request id: random, 64 bits in hex.
    static func newID() -> String { String(UInt64.random(in: 0...UInt64.max), radix: 16) }

    public var method: HTTPMethod { head.method }
    public var uri: String { head.uri }
    public var headers: HTTPHeaders { head.headers }

    /// `Content-Length` if the client sent one that parses; nil for chunked bodies. (The HTTP
    /// parser has already stripped whitespace around header values.)
    public var contentLength: Int64? {
        head.headers.first(name: "content-length").flatMap { Int64($0) }
    }
}

/// Errors of the request body stream.
public enum RequestBodyError: Error, Sendable {
    /// The connection ended before the body did (fewer bytes than `Content-Length`, or a
    /// chunked body without its last chunk).
    case truncated
}

/// The request body as an `AsyncSequence` of buffers straight from the connection, with the
/// connection's backpressure: the next bytes are read from the socket only when asked for.
///
/// A body is read once, by the one task handling the request.
public final class RequestBody: AsyncSequence, @unchecked Sendable {
    public typealias Element = ByteBuffer

    // Mutated only by the task that handles the request; the connection loop takes the
    // iterator back after the responder has returned.
    var iterator: NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator
    private(set) var isFinished = false
    private var iterated = false
    /// Sends `100 Continue` before the first read, when the client asked for it.
    private var sendContinue: (() async throws -> Void)?
    /// Bytes delivered so far (for the access log and drain decisions).
    public private(set) var bytesRead: Int64 = 0

    init(
        iterator: NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator,
        sendContinue: (() async throws -> Void)?
    ) {
        self.iterator = iterator
        self.sendContinue = sendContinue
    }

    /// Whether the client is still waiting for `100 Continue` and has not sent body bytes.
    var continuePending: Bool { sendContinue != nil }

    func nextBuffer() async throws -> ByteBuffer? {
        guard !isFinished else { return nil }
        if let send = sendContinue {
            sendContinue = nil
            try await send()
        }
        while true {
            switch try await iterator.next() {
            case .body(let buffer):
                bytesRead += Int64(buffer.readableBytes)
                if buffer.readableBytes == 0 { continue }
                return buffer
            case .end:
                isFinished = true
                return nil
            case .head, .none:
                throw RequestBodyError.truncated
            }
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let body: RequestBody
        public mutating func next() async throws -> ByteBuffer? { try await body.nextBuffer() }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        precondition(!iterated, "a request body is read once")
        iterated = true
        return AsyncIterator(body: self)
    }

    /// Reads the whole body into memory, refusing more than `limit` bytes. For small documents
    /// (manifests) only; blobs stream.
    public func collect(upTo limit: Int) async throws -> [UInt8]? {
        var bytes: [UInt8] = []
        for try await buffer in self {
            guard bytes.count + buffer.readableBytes <= limit else { return nil }
            bytes.append(contentsOf: buffer.readableBytesView)
        }
        return bytes
    }
}
