internal import Foundation

/// docker_auth-style static access rules: an ordered list, the first rule that matches the
/// account, resource and client address decides which actions are allowed; no match allows
/// nothing. Anonymous is the empty account. Without rules, a signed-in user may do everything
/// and anonymous nothing (what `auth.htpasswd` does).
public struct AccessRules: Sendable {
    public struct Rule: Sendable {
        let account: NamePattern?
        let name: NamePattern?
        let type: NamePattern?
        let address: AddressRange?
        let actions: Set<String>

        /// `key` names the rule in errors (`auth.token.server.acl[2]`).
        public init(
            account: String?, name: String?, type: String?, ip: String?, actions: [String], key: String
        ) throws(AccessRules.Invalid) {
            func pattern(_ text: String?, _ field: String) throws(AccessRules.Invalid) -> NamePattern? {
                guard let text else { return nil }
                do { return try NamePattern(text) } catch {
                    throw Invalid(key: "\(key).match.\(field)", description: error.description)
                }
            }
            self.account = try pattern(account, "account")
            self.name = try pattern(name, "name")
            self.type = try pattern(type, "type")
            if let ip {
                guard let range = AddressRange(ip) else {
                    throw Invalid(key: "\(key).match.ip", description: "\(ip) is not an address or a CIDR range")
                }
                address = range
            } else {
                address = nil
            }
            self.actions = Set(actions)
        }

        func matches(account: String, type: String, name: String, address: String) -> Bool {
            (self.account?.matches(account, account: account) ?? true)
                && (self.type?.matches(type, account: account) ?? true)
                && (self.name?.matches(name, account: account) ?? true)
                && (self.address?.contains(address) ?? true)
        }
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let key: String
        public let description: String
    }

    let rules: [Rule]?

    /// Nil: signed-in users may do everything, anonymous nothing.
    public init(_ rules: [Rule]?) { self.rules = rules }

    /// The actions `account` (from `address`, an IP) may take on the resource.
    func allowed(account: String, type: String, name: String, address: String) -> Set<String> {
        guard let rules else { return account.isEmpty ? [] : ["*"] }
        return rules.first { $0.matches(account: account, type: type, name: name, address: address) }?.actions ?? []
    }

    /// What a token request for `requested` actions gets: the requested actions the rules
    /// allow, and nothing else (a denied action is left out, not an error).
    func granted(_ requested: [String], account: String, type: String, name: String, address: String) -> [String] {
        let allowed = allowed(account: account, type: type, name: name, address: address)
        if allowed.contains("*") { return requested }
        return requested.filter { $0 != "*" && allowed.contains($0) }
    }
}

/// An IPv4 or IPv6 address, or a CIDR range of them (`10.0.0.0/8`, `fd00::/8`).
struct AddressRange: Sendable {
    let network: [UInt8]
    let prefixLength: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let bytes = Self.bytes(String(first)) else { return nil }
        let length = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
        guard let length, (0...bytes.count * 8).contains(length) else { return nil }
        network = bytes
        prefixLength = length
    }

    func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(address), bytes.count == network.count else { return false }
        var bits = prefixLength
        for i in bytes.indices where bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if bytes[i] & mask != network[i] & mask { return false }
            bits -= 8
        }
        return true
    }

    /// The IP of a connection's `ip:port` (IPv6 too: the port follows the last colon).
    static func ip(of remoteAddress: String) -> String {
        remoteAddress.lastIndex(of: ":").map { String(remoteAddress[..<$0]) } ?? remoteAddress
    }

    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
