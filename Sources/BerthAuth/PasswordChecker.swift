internal import Crypto
internal import Foundation
internal import NIOPosix
internal import Synchronization

/// Checks a user's password against bcrypt entries: an htpasswd file, read again when it
/// changes (looked at at most once a second), and/or entries given inline in the config. Used
/// by `auth.htpasswd` and by the built-in token server alike.
///
/// A password that matched is remembered by its SHA-256 with the user's hash, so that bcrypt
/// runs once per user and password instead of on every request. Failed logins are slowed
/// down: after `freeFailures` failures in a row for one account, or from one client address,
/// each further attempt waits twice as long as the one before (a quarter second at first, 8 s
/// at most), until a login succeeds or 15 minutes pass without a failure.
public final class PasswordChecker: Sendable {
    private struct State {
        var file: Htpasswd?
        var modified: Date?
        var checked = Date.distantPast
        var verified: [String: SHA256.Digest] = [:]
        var failures: [String: (count: Int, last: Date)] = [:]
    }

    let path: String?
    let inline: Htpasswd
    private let state: Mutex<State>
    static let freeFailures = 5
    static let longestDelay = 8.0

    /// `path`: an htpasswd file; `inline`: `user: bcrypt hash` entries. A user in both is
    /// checked against the file.
    public init(path: String?, inline: [String: String] = [:]) throws(Htpasswd.Invalid) {
        self.path = path
        self.inline = try Htpasswd(
            contents: inline.map { "\($0.key):\($0.value)" }.joined(separator: "\n"), source: "inline users")
        state = Mutex(
            State(
                file: try path.map { p throws(Htpasswd.Invalid) in try Htpasswd(path: p) },
                modified: path.flatMap(Self.modified)))
    }

    /// Whether `password` is `user`'s, after the wait that earlier failures for this account or
    /// from `address` (an `ip:port`) call for.
    public func check(user: String, password: String, address: String) async -> Bool {
        let users = currentUsers()
        let keys = ["account \(user)", "address \(AddressRange.ip(of: address))"]
        let delay = state.withLock { state in keys.map { Self.delay(after: state.failures[$0]?.count ?? 0) }.max() ?? 0
        }
        if delay > 0 { try? await Task.sleep(for: .milliseconds(Int(delay * 1000))) }
        let proof = SHA256.hash(data: Data("\(user)\u{0}\(password)\u{0}\(users.entries[user] ?? "")".utf8))
        if state.withLock({ $0.verified[user] == proof }) { return true }
        // bcrypt takes milliseconds on purpose: off the cooperative pool, which serves requests.
        let valid = (try? await NIOThreadPool.singleton.runIfActive { users.verify(user: user, password: password) })
        let now = Date()
        return state.withLock { state in
            if valid == true {
                if state.verified.count > 10_000 { state.verified.removeAll() }
                state.verified[user] = proof
                for key in keys { state.failures[key] = nil }
                return true
            }
            if state.failures.count > 100_000 { state.failures.removeAll() }
            for key in keys {
                let previous =
                    state.failures[key].flatMap { now.timeIntervalSince($0.last) < 900 ? $0.count : nil } ?? 0
                state.failures[key] = (previous + 1, now)
            }
            return false
        }
    }

    /// Whether `user` is (still) a user: a refresh token of someone taken out of the file
    /// refreshes nothing.
    public func knows(_ user: String) -> Bool { currentUsers().entries[user] != nil }

    /// The users as they are now: the file read again when its modification time changed. A
    /// file that became unreadable or invalid keeps the last good one in force (and is reported
    /// at the next start).
    private func currentUsers() -> Htpasswd {
        guard let path else { return inline }
        let now = Date()
        let file = state.withLock { state in
            if now.timeIntervalSince(state.checked) >= 1 {
                state.checked = now
                let modified = Self.modified(path)
                if modified != state.modified, let file = try? Htpasswd(path: path) {
                    state.file = file
                    state.modified = modified
                    state.verified.removeAll()
                }
            }
            return state.file
        }
        return file.map { $0.merging(inline) } ?? inline
    }

    static func modified(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    /// Seconds to wait before checking a login after `failures` failures in a row.
    static func delay(after failures: Int) -> Double {
        guard failures >= freeFailures else { return 0 }
        return min(0.25 * pow(2, Double(failures - freeFailures)), longestDelay)
    }

    /// `Basic base64(user:password)`.
    static func basicCredentials(_ header: String?) -> (String, String)? {
        guard let header, header.count < 8192 else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let data = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
            let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }
}
