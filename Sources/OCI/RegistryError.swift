/// A failure a client can be told about: an OCI error code, a message that says what was wrong,
/// optional detail, and what else the domain knows about it. It carries no HTTP: BerthAPI
/// chooses status and headers from code and condition, in one table.
public struct RegistryError: Error, Sendable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String
    public let detail: [String: String]
    public let condition: ErrorCondition?

    public init(
        _ code: ErrorCode, _ message: String? = nil, detail: [String: String] = [:], condition: ErrorCondition? = nil
    ) {
        self.code = code
        self.message = message ?? code.message
        self.detail = detail
        self.condition = condition
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// What the domain knows about a failure beyond its code, where the code alone does not say
/// how to answer it.
public enum ErrorCondition: Sendable, Equatable {
    /// Content over a size limit (a manifest over 4 MiB).
    case tooLarge
    /// The request names no endpoint Berth serves.
    case noSuchEndpoint
    /// A chunk does not continue the upload, which holds `size` bytes.
    case uploadHolds(size: Int64)
    /// A byte range lies outside a blob of `size` bytes.
    case outsideBlob(size: Int64)
    /// An upstream registry failed (unreachable, 5xx, refused credentials, bad bytes), and
    /// nothing cached could stand in.
    case upstreamFailed
}
