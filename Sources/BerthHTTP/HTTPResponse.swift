public import NIOCore
public import NIOHTTP1

/// A response: status, headers, and a body that is sent as it is produced.
public struct HTTPResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: Body

    public enum Body: Sendable {
        case empty
        case bytes(ByteBuffer)
        /// A byte range of a local file: sent with `sendfile` on plain TCP.
        case file(path: String, offset: Int64, length: Int64)
        /// Produced chunk by chunk; `nil` ends it. `length` is the `Content-Length` when known.
        case stream(length: Int64?, next: @Sendable () async throws -> ByteBuffer?)
    }

    public init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: Body = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The `Content-Length` the body implies, if any.
    var impliedLength: Int64? {
        switch body {
        case .empty: 0
        case .bytes(let b): Int64(b.readableBytes)
        case .file(_, _, let length): length
        case .stream(let length, _): length
        }
    }
}

/// Answers requests. Errors are the responder's business: it always produces a response.
public protocol HTTPResponder: Sendable {
    func respond(to request: HTTPRequest) async -> HTTPResponse
}
