internal import CCrypt
internal import Foundation

/// An htpasswd file as registry:2 reads it: `user:hash` lines, bcrypt hashes only (`$2y$`,
/// `$2b$`, `$2a$`, as `htpasswd -B` writes them). Other lines are refused when the file is
/// read, as registry:2 refuses them, instead of never matching.
public struct Htpasswd: Sendable {
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    let entries: [String: String]

    public init(contents: String, source: String) throws(Invalid) {
        var entries: [String: String] = [:]
        for (index, rawLine) in contents.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw Invalid(description: "\(source) line \(index + 1) is not user:hash")
            }
            let user = String(line[..<colon])
            let hash = String(line[line.index(after: colon)...])
            guard ["$2y$", "$2b$", "$2a$"].contains(where: hash.hasPrefix) else {
                throw Invalid(
                    description:
                        "\(source) line \(index + 1) (user \(user)) is not a bcrypt hash; create it with htpasswd -B")
            }
            entries[user] = hash
        }
        self.entries = entries
    }

    init(entries: [String: String]) { self.entries = entries }

    /// These entries, and those of `other` for users not here.
    func merging(_ other: Htpasswd) -> Htpasswd {
        Htpasswd(entries: entries.merging(other.entries) { mine, _ in mine })
    }

    public init(path: String) throws(Invalid) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Invalid(description: "cannot read \(path)")
        }
        try self.init(contents: String(decoding: data, as: UTF8.self), source: path)
    }

    /// Whether `password` is the user's. Unknown users take as long as known ones: a bcrypt of
    /// the password is computed either way, so timing tells nothing about who exists.
    public func verify(user: String, password: String) -> Bool {
        guard let hash = entries[user] else {
            _ = Self.bcrypt(password, setting: Self.decoy)
            return false
        }
        guard let computed = Self.bcrypt(password, setting: hash) else { return false }
        return Self.constantTimeEqual(Array(computed.utf8), Array(hash.utf8))
    }

    /// A bcrypt setting of the default cost, for users who are not in the file.
    static let decoy = "$2y$05$abcdefghijklmnopqrstuu"

    /// `crypt_r` of the password with the hash's own setting (algorithm, cost and salt).
    static func bcrypt(_ password: String, setting: String) -> String? {
        // crypt_data is 32 KiB: on the heap, one per call, so that calls may run at once.
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer { data.deallocate() }
        memset(data, 0, MemoryLayout<crypt_data>.size)
        guard let result = crypt_r(password, setting, data) else { return nil }
        let text = String(cString: result)
        // libxcrypt answers a failure with a string starting with "*".
        return text.hasPrefix("*") ? nil : text
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
