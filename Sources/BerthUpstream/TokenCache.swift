internal import Foundation

/// Bearer tokens of one upstream, by scope, kept until shortly before they expire, so that a
/// pull asks the token server once per repository rather than once per request.
actor TokenCache {
    private struct Entry {
        let token: String
        let expires: Date
    }

    /// Bounded: a client walking many repositories cannot grow memory without end.
    private static let capacity = 1024
    private var entries: [String: Entry] = [:]

    func token(for scope: String, now: Date = Date()) -> String? {
        guard let entry = entries[scope] else { return nil }
        guard entry.expires > now else {
            entries[scope] = nil
            return nil
        }
        return entry.token
    }

    /// Keeps a token for `lifetime` seconds, less a margin for the requests it is still used on.
    func put(_ token: String, for scope: String, lifetime: Double, now: Date = Date()) {
        if entries.count >= Self.capacity { entries.removeAll() }
        entries[scope] = Entry(token: token, expires: now.addingTimeInterval(max(lifetime - 10, 0)))
    }

    /// Whether the upstream asked for Basic credentials before: then they go with every
    /// request at once, instead of after a 401 each time.
    private(set) var asksForBasic = false

    func rememberBasic() { asksForBasic = true }

    func drop(_ scope: String) {
        entries[scope] = nil
    }
}
