internal import Foundation
internal import OCI

/// When each mirrored tag was last checked upstream, for the freshness window: within it the
/// cached tag is served without asking. Memory only, and bounded: a forgotten check costs one
/// `HEAD` upstream.
actor TagChecks {
    private static let capacity = 10_000
    private var times: [String: Date] = [:]

    func isFresh(_ name: RepositoryName, _ tag: Tag, within window: Duration) -> Bool {
        guard window > .zero, let at = times["\(name):\(tag.value)"] else { return false }
        return Date().timeIntervalSince(at) < Double(window.components.seconds)
    }

    func checked(_ name: RepositoryName, _ tag: Tag) {
        if times.count >= Self.capacity { times.removeAll() }
        times["\(name):\(tag.value)"] = Date()
    }
}
