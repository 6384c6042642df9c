public import NIOCore
public import NIOHTTP1
internal import Synchronization

/// Answers some requests at once, on the connection's event loop, from what is already in
/// memory. A request answered here starts no task and crosses no thread: the usual path hands
/// every request from the event loop to the connection's task and the response back, and for a
/// response of a few hundred bytes those hops are most of its cost (a cluster's nodes asking for
/// the same manifest again and again are the hot path of a registry).
public protocol ImmediateResponder: Sendable {
    /// The response to a request without a body, or nil to have it served by the
    /// `HTTPResponder`. Runs on an event loop, so it must not wait for anything.
    func respondImmediately(to head: HTTPRequestHead) -> ImmediateResponse?
}

/// A response held to be sent again and again from the event loop, with its body in memory.
/// Its bytes on the wire for the usual request (HTTP/1.1, kept alive) are encoded once, for a
/// `GET` and for a `HEAD`, and then sent as they are.
public final class ImmediateResponse: Sendable {
    let response: HTTPResponse
    private let body: ByteBuffer
    private let encoded = Mutex<(get: ByteBuffer, head: ByteBuffer)?>(nil)

    public init(status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer) {
        response = HTTPResponse(status: status, headers: headers, body: .bytes(body))
        self.body = body
    }

    /// Body bytes a `GET` is sent.
    public var bodyLength: Int { body.readableBytes }

    /// Head and body as sent to a kept-alive HTTP/1.1 `GET` (or `HEAD`: the head alone).
    /// `extraHeaders` are the server's, the same on every call.
    func keptAliveBytes(forHEAD: Bool, extraHeaders: [(String, String)]) -> ByteBuffer {
        if let known = encoded.withLock({ $0 }) { return forHEAD ? known.head : known.get }
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
        var head = ByteBuffer()
        Self.encode(response.head(for: request, keepAlive: true, extraHeaders: extraHeaders).head, into: &head)
        var get = head
        var body = body
        get.writeBuffer(&body)
        encoded.withLock { $0 = (get, head) }
        return forHEAD ? head : get
    }

    /// The status line and headers, as `HTTPResponseEncoder` writes them.
    static func encode(_ head: HTTPResponseHead, into buffer: inout ByteBuffer) {
        buffer.writeString(
            "HTTP/\(head.version.major).\(head.version.minor) \(head.status.code) \(head.status.reasonPhrase)\r\n")
        for (name, value) in head.headers {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
    }
}
