/// A configuration that cannot be used: the key and what is wrong with it, for one line on stderr.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public let key: String
    public let message: String

    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { key.isEmpty ? message : "\(key): \(message)" }
}
