internal import BerthConfig
public import BerthRegistry
internal import Foundation
public import Logging
internal import OCI

/// Removes mirrored content that has not been used for its upstream's `ttl`, and the least
/// recently used blobs of an upstream whose cache is over its `maxsize`.
///
/// Ages come from the usage records in storage (`MirrorUsage`), not from this process, so a
/// restart loses none and replicas agree. Local repositories are never touched: a blob's
/// bytes go only when no local repository and no other upstream's cache links them. A
/// manifest served within `inUse` counts as being pulled, and nothing it references goes.
public struct MirrorExpiry: Sendable {
    let namespaces: [MirrorNamespace]
    let cache: MirrorCache
    let inUse: Duration
    let logger: Logger

    public init(namespaces: [MirrorNamespace], cache: MirrorCache, inUse: Duration, logger: Logger) {
        self.namespaces = namespaces
        self.cache = cache
        self.inUse = inUse
        self.logger = logger
    }

    /// What one sweep removed from an upstream's cache.
    public struct Evicted: Sendable, Equatable {
        public var count = 0
        public var bytes: Int64 = 0
    }

    /// One pass over every upstream's cache.
    @discardableResult
    public func sweep(now: Double? = nil) async throws -> [String: Evicted] {
        let now = now ?? Date().timeIntervalSince1970
        let links = try await cache.links()
        // Who links each digest: an upstream's name, or "" for a local repository.
        var owners: [Digest: Set<String>] = [:]
        var held: [String: [Digest: [RepositoryName]]] = [:]
        for (name, repositoryLinks) in links {
            let owner = namespaces.first { $0.claims(name, ns: nil) }?.upstream.name ?? ""
            for digest in repositoryLinks.all {
                owners[digest, default: []].insert(owner)
                if !owner.isEmpty { held[owner, default: [:]][digest, default: []].append(name) }
            }
        }
        var result: [String: Evicted] = [:]
        for namespace in namespaces {
            let upstream = namespace.upstream
            let evicted = try await sweep(
                upstream, held: held[upstream.name] ?? [:], links: links, owners: owners, now: now)
            result[upstream.name] = evicted
            if evicted.count > 0 {
                namespace.counters.evicted(evicted.count)
                logger.info(
                    "mirrored content expired",
                    metadata: [
                        "upstream": "\(upstream.name)", "evicted": "\(evicted.count)", "bytes": "\(evicted.bytes)",
                    ])
            }
        }
        return result
    }

    private func sweep(
        _ upstream: Configuration.Upstream, held: [Digest: [RepositoryName]], links: [RepositoryName: RepositoryLinks],
        owners: [Digest: Set<String>], now: Double
    ) async throws -> Evicted {
        let usage = cache.usage
        var records = try await usage.records(upstream.name)
        // Content cached before it had a record (or whose record was lost) starts its age now.
        for (digest, names) in held where records[digest] == nil {
            let isManifest = names.contains { links[$0]?.manifests.contains(digest) == true }
            let size = try await cache.stored(digest)?.size ?? 0
            let kind: MirrorUsage.Record.Kind = isManifest ? .manifest : .blob
            try await usage.touch(upstream.name, digest, kind, size: size, resolution: 0, now: now)
            records[digest] = MirrorUsage.Record(used: now, size: size, kind: kind)
        }
        // Records of content no cached repository links any more go, unless written since the
        // walk began (content cached while this sweep runs).
        for (digest, record) in records where held[digest] == nil && record.used < now {
            try await usage.remove(upstream.name, digest)
            records[digest] = nil
        }

        var pinned: Set<Digest> = []
        let inUseSeconds = Self.seconds(inUse)
        for (digest, record) in records where record.kind == .manifest && now - record.used < inUseSeconds {
            pinned.insert(digest)
            pinned.formUnion(await cache.references(ofManifest: digest))
        }

        var victims: [Digest] = []
        let ttl = Self.seconds(upstream.ttl)
        if ttl > 0 {
            victims = records.filter { now - $0.value.used >= ttl && !pinned.contains($0.key) }.map(\.key)
        }
        if let cap = upstream.maxSize {
            let chosen = Set(victims)
            let blobs = records.filter { $0.value.kind == .blob && !chosen.contains($0.key) }
                .sorted { $0.value.used < $1.value.used }
            var total = blobs.reduce(Int64(0)) { $0 + $1.value.size }
            for (digest, record) in blobs where total > cap && !pinned.contains(digest) {
                victims.append(digest)
                total -= record.size
            }
            if total > cap {
                logger.warning(
                    "mirror cache over its size cap; what is left is in use",
                    metadata: ["upstream": "\(upstream.name)", "size": "\(total)", "maxsize": "\(cap)"])
            }
        }

        var evicted = Evicted()
        var emptied: Set<RepositoryName> = []
        for digest in victims {
            // A use since the records were read (a pull now) keeps it.
            guard let seen = records[digest], try await usage.record(upstream.name, digest) == seen else { continue }
            let names = held[digest] ?? []
            try await cache.unlink(digest, from: names)
            try await usage.remove(upstream.name, digest)
            // Linked elsewhere when the walk was made, or since (a push of the same layer, or
            // a pull that cached it again while this sweep ran): the bytes stay.
            if owners[digest, default: []].subtracting([upstream.name]).isEmpty,
                try await !cache.isLinked(digest, inAnyOf: links.keys)
            {
                try await cache.deleteData(digest)
            }
            evicted.count += 1
            evicted.bytes += seen.size
            emptied.formUnion(names)
        }
        let gone = Set(victims)
        for name in emptied where links[name]?.all.isSubset(of: gone) == true {
            try await cache.deleteRepositoryIfEmpty(name)
        }
        return evicted
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// Asks the expiry loop for a sweep before its interval is up (a capped cache just grew).
/// Asking again before the sweep ran asks once.
public final class SweepSignal: Sendable {
    public let requests: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    public init() {
        (requests, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    public func request() { continuation.yield() }
}
