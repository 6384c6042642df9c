internal import BerthConfig
internal import BerthRegistry
internal import Foundation
internal import OCI
internal import Synchronization

/// Whether an upstream is taken as offline. After `offlineAfter` failures in a row (no answer,
/// a timeout, 5xx, 429), or when it answers with `Retry-After`, requests to it fail at once for
/// `offlineFor` (or as long as `Retry-After` asks, up to an hour), so that clients get the cache
/// without waiting on timeouts. The first request after the period probes it: one more failure
/// takes it offline again, one answer brings it back.
final class UpstreamHealth: Sendable {
    private struct State {
        var failures = 0
        var offlineUntil: ContinuousClock.Instant?
    }

    private let upstream: Configuration.Upstream
    private let counters: UpstreamCounters
    private let state = Mutex(State())
    static let longestRetryAfter = Duration.seconds(3600)

    init(upstream: Configuration.Upstream, counters: UpstreamCounters) {
        self.upstream = upstream
        self.counters = counters
    }

    /// Throws while the upstream is offline; nothing is sent then.
    func check() throws(RegistryError) {
        let until = state.withLock { $0.offlineUntil }
        guard let until, until > .now else { return }
        let seconds = Int((until - .now).components.seconds) + 1
        throw RegistryError(
            .unavailable, "upstream \(upstream.name) is offline for \(seconds)s more after failing; try again later",
            condition: .upstreamFailed)
    }

    func succeeded() {
        state.withLock { $0 = State() }
    }

    /// Counts a failure; `retryAfter` is what the upstream asked for, if anything.
    func failed(retryAfter: Duration? = nil) {
        let wentOffline = state.withLock { state -> Bool in
            state.failures += 1
            guard retryAfter != nil || state.failures >= upstream.offlineAfter else { return false }
            let period = min(retryAfter ?? upstream.offlineFor, Self.longestRetryAfter)
            let until = ContinuousClock.now + period
            defer { state.offlineUntil = max(state.offlineUntil ?? until, until) }
            return state.offlineUntil.map { $0 <= .now } ?? true
        }
        if wentOffline { counters.offline() }
    }

    /// `Retry-After` as seconds or as an HTTP date.
    static func retryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) { return .seconds(max(0, seconds)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .seconds(max(0, Int(date.timeIntervalSince(now).rounded(.up))))
    }
}
