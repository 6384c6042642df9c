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
        /// Produced chunk by chunk, several at a time where they come so (each batch is written
        /// in one hop to the event loop); `nil` ends it. `length` is the `Content-Length` when
        /// known.
        case stream(length: Int64?, next: @Sendable () async throws -> [ByteBuffer]?)
    }

    public init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: Body = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The `Content-Length` the body implies, if any.
    public var impliedLength: Int64? {
        switch body {
        case .empty: 0
        case .bytes(let b): Int64(b.readableBytes)
        case .file(_, _, let length): length
        case .stream(let length, _): length
        }
    }

    /// The head sent for this response to `request`: `extraHeaders` where the response has not
    /// set them, the body's framing, and what keeps the connection open or closes it. Framing
    /// is ours, not the encoder's: a body of unknown length is chunked, except to an HTTP/1.0
    /// client (it knows no chunks: the body ends with the connection, so `keepAlive` comes
    /// back false) and for a `HEAD` (no body follows).
    func head(
        for request: HTTPRequestHead, keepAlive: Bool, extraHeaders: [(String, String)]
    ) -> (head: HTTPResponseHead, keepAlive: Bool) {
        var headers = headers
        for (name, value) in extraHeaders where !headers.contains(name: name) {
            headers.add(name: name, value: value)
        }
        var keepAlive = keepAlive
        let code = status.code
        if code >= 200 && code != 204 && code != 304 && !headers.contains(name: "content-length") {
            if let length = impliedLength {
                headers.add(name: "Content-Length", value: String(length))
            } else if request.method == .HEAD {
                // Nothing: no body follows, and its length is not known.
            } else if request.version == .http1_0 {
                keepAlive = false
            } else {
                headers.add(name: "Transfer-Encoding", value: "chunked")
            }
        }
        if !keepAlive {
            headers.replaceOrAdd(name: "Connection", value: "close")
        } else if request.version == .http1_0 {
            headers.replaceOrAdd(name: "Connection", value: "keep-alive")
        }
        return (HTTPResponseHead(version: request.version, status: status, headers: headers), keepAlive)
    }
}

/// Answers requests. Errors are the responder's business: it always produces a response.
public protocol HTTPResponder: Sendable {
    func respond(to request: HTTPRequest) async -> HTTPResponse
}
