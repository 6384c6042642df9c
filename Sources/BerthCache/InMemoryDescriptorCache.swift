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

    public func digest(of tag: Tag, in name: RepositoryName) async -> Digest? { nil }
    public func rememberTag(_ tag: Tag, in name: RepositoryName, as digest: Digest, replacing: Bool) async {}
    public func forgetTag(_ tag: Tag, in name: RepositoryName) async {}
}

/// A map bounded to about `capacity` entries that keeps the recently used ones: entries live in
/// a young generation; when it is full it becomes the old one (the previous old one is
/// dropped), and an old entry that is read moves back to the young. Every step is O(1), unlike
/// an exact LRU list, and what is dropped is what nobody read for a whole generation.
struct Generations<Key: Hashable, Value> {
    private var young: [Key: Value] = [:]
    private var old: [Key: Value] = [:]
    private let generation: Int

    init(capacity: Int) {
        generation = max(1, capacity / 2)
    }

    var count: Int { young.count + old.count }

    mutating func get(_ key: Key) -> Value? {
        if let value = young[key] { return value }
        guard let value = old.removeValue(forKey: key) else { return nil }
        set(key, value)
        return value
    }

    mutating func set(_ key: Key, _ value: Value) {
        if young.count >= generation, young[key] == nil {
            old = young
            young = [:]
        }
        young[key] = value
        old.removeValue(forKey: key)
    }

    mutating func remove(_ key: Key) {
        young.removeValue(forKey: key)
        old.removeValue(forKey: key)
    }
}
