/// A failure a client can be told about: an OCI error code, a message that says what was wrong,
/// optional detail, and the HTTP status (the code's default unless a case needs another).
public struct RegistryError: Error, Sendable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String
    public let detail: [String: String]
    public let status: Int
    /// Extra response headers the error needs (e.g. `Range` on a 416 for an upload).
    public var headers: [(String, String)]

    public init(
        _ code: ErrorCode, _ message: String? = nil, detail: [String: String] = [:], status: Int? = nil,
        headers: [(String, String)] = []
    ) {
        self.code = code
        self.message = message ?? code.message
        self.detail = detail
        self.status = status ?? code.defaultStatus
        self.headers = headers
    }

    public var description: String { "\(code.rawValue) (\(status)): \(message)" }
}
