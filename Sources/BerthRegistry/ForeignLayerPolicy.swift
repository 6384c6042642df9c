internal import Foundation

/// `validation.manifests.urls.allow` / `deny`: the URLs a foreign (non-distributable) layer may
/// point at. Like registry:2, with no `allow` every URL is allowed unless `deny` matches.
public struct ForeignLayerPolicy: Sendable {
    public var allow: [String] = []
    public var deny: [String] = []

    public init(allow: [String] = [], deny: [String] = []) {
        self.allow = allow
        self.deny = deny
    }

    func permits(_ url: String) -> Bool {
        let allowed = allow.isEmpty || allow.contains { Self.matches($0, url) }
        return allowed && !deny.contains { Self.matches($0, url) }
    }

    private static func matches(_ pattern: String, _ text: String) -> Bool {
        guard let re = try? NSRegularExpression(pattern: pattern) else { return false }
        return re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}
