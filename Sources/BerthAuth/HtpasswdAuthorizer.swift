public import BerthAPI
public import BerthHTTP
internal import Crypto
internal import Foundation
internal import NIOHTTP1
internal import NIOPosix
internal import OCI
internal import Synchronization

/// registry:2's `auth.htpasswd`: every request must carry Basic credentials of a user in the
/// file, and a user may do everything (htpasswd has no rules); without them, `401` with a
/// `Basic` challenge for the realm.
///
/// The file is read again when it changes (looked at at most once a second). A password that
/// matched is remembered by its SHA-256 with the user's hash, so that bcrypt runs once per
/// user and password instead of on every request. Failed logins are slowed down: after
/// `freeFailures` failures in a row for one account, or from one client address, each further
/// attempt waits twice as long as the one before (a quarter second at first, 8 s at most), until
/// a login succeeds or 15 minutes pass without a failure.
public final class HtpasswdAuthorizer: Authorizer, Sendable {
    private struct State {
        var file: Htpasswd
        var modified: Date?
        var checked = Date.distantPast
        var verified: [String: SHA256.Digest] = [:]
        var failures: [String: (count: Int, last: Date)] = [:]
    }

    let realm: String
    let path: String
    private let state: Mutex<State>
    static let freeFailures = 5
    static let longestDelay = 8.0

    public init(realm: String, path: String) throws(Htpasswd.Invalid) {
        self.realm = realm
        self.path = path
        state = Mutex(State(file: try Htpasswd(path: path), modified: Self.modified(path)))
    }

    public func authorize(_ request: HTTPRequest, access: [Access]) async -> Authorization {
        guard let (user, password) = Self.basicCredentials(request.headers.first(name: "authorization")) else {
            return refuse("authentication required")
        }
        let file = currentFile()
        let keys = ["account \(user)", "address \(request.remoteAddress)"]
        let delay = state.withLock { state in keys.map { Self.delay(after: state.failures[$0]?.count ?? 0) }.max() ?? 0
        }
        if delay > 0 { try? await Task.sleep(for: .milliseconds(Int(delay * 1000))) }
        let proof = SHA256.hash(data: Data("\(user)\u{0}\(password)\u{0}\(file.entries[user] ?? "")".utf8))
        if state.withLock({ $0.verified[user] == proof }) { return .granted(Principal(account: user)) }
        // bcrypt takes milliseconds on purpose: off the cooperative pool, which serves requests.
        let valid = (try? await NIOThreadPool.singleton.runIfActive { file.verify(user: user, password: password) })
        let now = Date()
        return state.withLock { state in
            if valid == true {
                if state.verified.count > 10_000 { state.verified.removeAll() }
                state.verified[user] = proof
                for key in keys { state.failures[key] = nil }
                return .granted(Principal(account: user))
            }
            if state.failures.count > 100_000 { state.failures.removeAll() }
            for key in keys {
                let previous =
                    state.failures[key].flatMap { now.timeIntervalSince($0.last) < 900 ? $0.count : nil } ?? 0
                state.failures[key] = (previous + 1, now)
            }
            return refuse("invalid username or password")
        }
    }

    private func refuse(_ message: String) -> Authorization {
        .refused(
            AuthorizationFailure(
                RegistryError(.unauthorized, message),
                challenge: "Basic realm=\"\(realm.replacingOccurrences(of: "\"", with: ""))\""))
    }

    /// The file as it is now: read again when its modification time changed. A file that became
    /// unreadable or invalid keeps the last good one in force (and is reported at the next start).
    private func currentFile() -> Htpasswd {
        let now = Date()
        return state.withLock { state in
            guard now.timeIntervalSince(state.checked) >= 1 else { return state.file }
            state.checked = now
            let modified = Self.modified(path)
            if modified != state.modified, let file = try? Htpasswd(path: path) {
                state.file = file
                state.modified = modified
                state.verified.removeAll()
            }
            return state.file
        }
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
