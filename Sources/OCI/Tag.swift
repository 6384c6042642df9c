/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
public struct Tag: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let value: String

    public init(_ text: String) throws(RegistryError) {
        let bytes = text.utf8
        guard let first = bytes.first, bytes.count <= 128, Self.isWordByte(first),
            bytes.dropFirst().allSatisfy({ Self.isWordByte($0) || $0 == 0x2e || $0 == 0x2d })
        else {
            throw RegistryError(
                .tagInvalid,
                "invalid tag \"\(text.prefix(140))\": up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
                detail: ["tag": String(text.prefix(140))])
        }
        value = text
    }

    public var description: String { value }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    private static func isWordByte(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x5f
    }
}

/// What a manifest path names: a tag, or a digest.
public enum Reference: Hashable, Sendable, CustomStringConvertible {
    case tag(Tag)
    case digest(Digest)

    /// A reference containing ':' must be a digest, since tags cannot contain one.
    public init(parsing text: String) throws(RegistryError) {
        if text.utf8.contains(UInt8(ascii: ":")) {
            self = .digest(try Digest(parsing: text))
        } else {
            self = .tag(try Tag(text))
        }
    }

    public var description: String {
        switch self {
        case .tag(let t): t.value
        case .digest(let d): d.description
        }
    }
}
