public import CoreMetrics
public import OCI

/// A descriptor cache whose lookups are counted as hits and misses
/// (`berth_cache_lookups_total{cache, lookup, result}`), in front of the real one only when
/// metrics are served.
public struct CountingDescriptorCache: DescriptorCache {
    let cache: any DescriptorCache
    let counters: [Lookup: (hit: Counter, miss: Counter)]

    enum Lookup: String, CaseIterable {
        case descriptor, link, tag
    }

    /// `kind` names the cache in the metrics: `inmemory` or `redis`.
    public init(_ cache: any DescriptorCache, kind: String, factory: any MetricsFactory) {
        self.cache = cache
        var counters: [Lookup: (hit: Counter, miss: Counter)] = [:]
        for lookup in Lookup.allCases {
            func counter(_ result: String) -> Counter {
                Counter(
                    label: "berth_cache_lookups_total",
                    dimensions: [("cache", kind), ("lookup", lookup.rawValue), ("result", result)], factory: factory)
            }
            counters[lookup] = (counter("hit"), counter("miss"))
        }
        self.counters = counters
    }

    private func count<T>(_ lookup: Lookup, _ answer: T?) -> T? {
        if answer == nil { counters[lookup]?.miss.increment() } else { counters[lookup]?.hit.increment() }
        return answer
    }

    public func descriptor(of digest: Digest) async -> BlobDescriptor? {
        count(.descriptor, await cache.descriptor(of: digest))
    }

    public func remember(_ descriptor: BlobDescriptor) async { await cache.remember(descriptor) }
    public func forgetDescriptor(of digest: Digest) async { await cache.forgetDescriptor(of: digest) }

    public func isLinked(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async -> Bool? {
        count(.link, await cache.isLinked(digest, as: kind, in: name))
    }

    public func rememberLink(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async {
        await cache.rememberLink(digest, as: kind, in: name)
    }

    public func forgetLink(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async {
        await cache.forgetLink(digest, as: kind, in: name)
    }

    public func digest(of tag: Tag, in name: RepositoryName) async -> Digest? {
        count(.tag, await cache.digest(of: tag, in: name))
    }

    public func rememberTag(_ tag: Tag, in name: RepositoryName, as digest: Digest, replacing: Bool) async {
        await cache.rememberTag(tag, in: name, as: digest, replacing: replacing)
    }

    public func forgetTag(_ tag: Tag, in name: RepositoryName) async { await cache.forgetTag(tag, in: name) }

    public func forgetAll() async { await cache.forgetAll() }
}
