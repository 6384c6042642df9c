public import OCI
internal import Synchronization

/// The descriptor cache of one process (`storage.cache.blobdescriptor: inmemory`, registry:2's
/// default): blob descriptors and repository links, bounded in size.
///
/// Tags are not kept. Another process on the same data directory (two replicas sharing a
/// volume, or `registry:2` beside Berth) may move a tag at any time, and nothing would tell
/// this one; a digest or a link, once there, means the same thing until it is deleted. A
/// shared cache (Redis), which every replica writes through, keeps tags too.
public final class InMemoryDescriptorCache: DescriptorCache {
    private struct LinkKey: Hashable {
        let name: RepositoryName
        let digest: Digest
        let kind: LinkKind
    }

    private let descriptors: Mutex<Generations<Digest, BlobDescriptor>>
    private let links: Mutex<Generations<LinkKey, Void>>

    /// `capacity` bounds each of the two maps (registry:2's `blobdescriptorsize`).
    public init(capacity: Int = 10_000) {
        descriptors = Mutex(Generations(capacity: capacity))
        links = Mutex(Generations(capacity: capacity))
    }

    public func descriptor(of digest: Digest) async -> BlobDescriptor? {
        descriptors.withLock { $0.get(digest) }
    }

    public func remember(_ descriptor: BlobDescriptor) async {
        descriptors.withLock { $0.set(descriptor.digest, descriptor) }
    }

    public func forgetDescriptor(of digest: Digest) async {
        descriptors.withLock { $0.remove(digest) }
    }

    public func isLinked(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async -> Bool? {
        links.withLock { $0.get(LinkKey(name: name, digest: digest, kind: kind)) != nil ? true : nil }
    }

    public func rememberLink(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async {
        links.withLock { $0.set(LinkKey(name: name, digest: digest, kind: kind), ()) }
    }

    public func forgetLink(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async {
        links.withLock { $0.remove(LinkKey(name: name, digest: digest, kind: kind)) }
    }

    public func forgetAll() async {
        descriptors.withLock { $0.removeAll() }
        links.withLock { $0.removeAll() }
    }

    public func digest(of tag: Tag, in name: RepositoryName) async -> Digest? { nil }
    public func rememberTag(_ tag: Tag, in name: RepositoryName, as digest: Digest, replacing: Bool) async {}
    public func forgetTag(_ tag: Tag, in name: RepositoryName) async {}
}

/// A map bounded to about `capacity` entries (or, given a `weight`, to about `capacity` in
/// total weight) that keeps the recently used ones: entries live in a young generation; when it
/// is full it becomes the old one (the previous old one is dropped), and an old entry that is
/// read moves back to the young. Every step is O(1), unlike an exact LRU list, and what is
/// dropped is what nobody read for a whole generation.
public struct Generations<Key: Hashable, Value> {
    // Inlinable, so that users in other modules get it specialized: unspecialized, every call
    // looked up generic metadata (a few percent of an immediate manifest answer).
    @usableFromInline var young: [Key: Value] = [:]
    @usableFromInline var old: [Key: Value] = [:]
    @usableFromInline var youngWeight = 0
    @usableFromInline let generation: Int
    @usableFromInline let weight: (Value) -> Int

    @inlinable public init(capacity: Int, weight: @escaping (Value) -> Int = { _ in 1 }) {
        generation = max(1, capacity / 2)
        self.weight = weight
    }

    @inlinable public var count: Int { young.count + old.count }

    @inlinable public mutating func get(_ key: Key) -> Value? {
        if let value = young[key] { return value }
        guard let value = old.removeValue(forKey: key) else { return nil }
        set(key, value)
        return value
    }

    @inlinable public mutating func set(_ key: Key, _ value: Value) {
        let added = weight(value)
        if let replaced = young.removeValue(forKey: key) {
            youngWeight -= weight(replaced)
        } else if youngWeight + added > generation, !young.isEmpty {
            old = young
            young = [:]
            youngWeight = 0
        }
        young[key] = value
        youngWeight += added
        old.removeValue(forKey: key)
    }

    @inlinable public mutating func removeAll() {
        young = [:]
        old = [:]
        youngWeight = 0
    }

    @inlinable public mutating func remove(_ key: Key) {
        if let removed = young.removeValue(forKey: key) { youngWeight -= weight(removed) }
        old.removeValue(forKey: key)
    }
}
