public import NIOCore
public import NIOSSL

/// How the HTTP server listens and what it tolerates from clients.
public struct HTTPServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Serve HTTPS with this context (from `http.tls`).
    public var tls: NIOSSLContext?
    /// A connection waiting for a request (or for more of a request body) this long is closed,
    /// and so is one whose client stops reading a response.
    public var idleTimeout: TimeAmount = .seconds(60)
    /// Longest request line + headers; above it the client gets 431.
    public var maxHeaderBytes = 64 * 1024
    /// Longest request target; above it the client gets 414.
    public var maxURLBytes = 8 * 1024
    /// The body of an error the HTTP layer itself answers (bad request syntax, too long headers):
    /// given status and message, returns content type and bytes. Lets the API speak OCI errors.
    public var errorBody: @Sendable (_ status: Int, _ message: String) -> (contentType: String, body: String)
    /// Headers added to every response (`http.headers`, `Docker-Distribution-Api-Version`).
    public var extraHeaders: [(String, String)] = []
    /// Called once per served request (`log.accesslog`); nil when the access log is off.
    public var accessLog: (@Sendable (AccessRecord) -> Void)?
    /// Answers what it can on the event loop, before a request reaches the `HTTPResponder`.
    public var immediateResponder: (any ImmediateResponder)?

    public init(
        host: String, port: Int,
        errorBody: @escaping @Sendable (Int, String) -> (contentType: String, body: String) = { _, message in
            ("text/plain; charset=utf-8", message + "\n")
        }
    ) {
        self.host = host
        self.port = port
        self.errorBody = errorBody
    }
}
