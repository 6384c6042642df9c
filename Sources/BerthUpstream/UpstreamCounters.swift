internal import Synchronization

/// What one upstream's mirror has done since start-up, for `/debug/mirror` (and the metrics
/// endpoint to come): counters only, bumped on the request path under a lock held for an add.
public final class UpstreamCounters: Sendable {
    public struct Snapshot: Sendable, Codable, Equatable {
        /// Manifests and blobs served from the cache without a download.
        public var hits = 0
        /// Manifests and blobs that had to be fetched.
        public var misses = 0
        /// Cached tags served because the upstream failed or was offline.
        public var staleServes = 0
        /// Requests sent upstream, by kind and answer: `"manifest HEAD 200"`, `"blob GET error"`.
        public var requests: [String: Int] = [:]
        public var bytesFromUpstream: Int64 = 0
        /// Bytes of mirrored blobs handed to clients (cached or streaming).
        public var bytesToClients: Int64 = 0
        /// Clients that joined a download or manifest fetch already running.
        public var coalescedWaiters = 0
        /// Downloads another replica performed while this one followed them in storage.
        public var followedReplicas = 0
        public var evictions = 0
        /// Times the upstream was taken as offline after failures or a `Retry-After`.
        public var offlinePeriods = 0
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    func hit() { state.withLock { $0.hits += 1 } }
    func miss() { state.withLock { $0.misses += 1 } }
    func staleServe() { state.withLock { $0.staleServes += 1 } }
    func coalesced() { state.withLock { $0.coalescedWaiters += 1 } }
    func followedReplica() { state.withLock { $0.followedReplicas += 1 } }
    func offline() { state.withLock { $0.offlinePeriods += 1 } }
    func evicted(_ count: Int) { state.withLock { $0.evictions += count } }
    func fromUpstream(_ bytes: Int) { state.withLock { $0.bytesFromUpstream += Int64(bytes) } }
    func toClients(_ bytes: Int64) { state.withLock { $0.bytesToClients += bytes } }

    func request(_ kind: String, _ answer: String) {
        state.withLock { $0.requests["\(kind) \(answer)", default: 0] += 1 }
    }
}
