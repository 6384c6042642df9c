/// A repository name as the distribution spec's grammar allows it: lower-case path components
/// of `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`, separated by `/`.
public struct RepositoryName: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// registry:2 refuses longer names; so do we, before touching storage.
    public static let maximumLength = 255

    public let value: String

    public init(_ text: String) throws(RegistryError) {
        guard !text.isEmpty else { throw RegistryError(.nameInvalid, "repository name is empty") }
        guard text.utf8.count <= Self.maximumLength else {
            throw RegistryError(
                .nameInvalid, "repository name is \(text.utf8.count) characters; the limit is \(Self.maximumLength)",
                detail: ["name": String(text.prefix(64)) + "…"])
        }
        for component in text.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            guard Self.isValidComponent(component) else {
                throw RegistryError(
                    .nameInvalid,
                    "invalid repository name \"\(text)\": components are lower-case letters and digits, "
                        + "separated by '.', '_', '__' or '-'",
                    detail: ["name": text])
            }
        }
        self.value = text
    }

    public var description: String { value }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    private static func isAlnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) }

    private static func isValidComponent(_ bytes: Substring.UTF8View) -> Bool {
        var previousWasAlnum = false
        var separatorRun: [UInt8] = []
        for c in bytes {
            if isAlnum(c) {
                if !separatorRun.isEmpty {
                    guard isValidSeparator(separatorRun) else { return false }
                    separatorRun.removeAll(keepingCapacity: true)
                }
                previousWasAlnum = true
            } else if c == 0x2e || c == 0x5f || c == 0x2d {
                guard previousWasAlnum || !separatorRun.isEmpty else { return false }
                separatorRun.append(c)
                previousWasAlnum = false
            } else {
                return false
            }
        }
        return previousWasAlnum
    }

    private static func isValidSeparator(_ run: [UInt8]) -> Bool {
        run == [0x2e] || run == [0x5f] || run == [0x5f, 0x5f] || run.allSatisfy { $0 == 0x2d }
    }
}
