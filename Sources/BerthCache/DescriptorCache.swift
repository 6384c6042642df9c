public import OCI

/// What the registry reads on every pull and storage answers slowly: what a blob is (digest →
/// size and media type), whether a repository links a digest, and which manifest a tag names.
///
/// The stores consult it before storage and keep it current: every new link, tag and blob is
/// remembered, every delete forgotten, in the same operation that writes storage. A cache
/// never fails a request: an answer it cannot give is a miss (nil), and the store reads
/// storage instead. Only positive answers are kept — "not linked" always comes from storage, so
/// a link made by another process is seen at once.
public protocol DescriptorCache: Sendable {
    func descriptor(of digest: Digest) async -> BlobDescriptor?
    func remember(_ descriptor: BlobDescriptor) async
    func forgetDescriptor(of digest: Digest) async

    /// Whether `name` links `digest` as `kind`: true if known to, nil if not known.
    func isLinked(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async -> Bool?
    func rememberLink(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async
    func forgetLink(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async

    func digest(of tag: Tag, in name: RepositoryName) async -> Digest?
    /// `replacing` is true when the tag was just written; false for a fill after a miss, which
    /// must not replace what another process may have set since it read storage.
    func rememberTag(_ tag: Tag, in name: RepositoryName, as digest: Digest, replacing: Bool) async
    func forgetTag(_ tag: Tag, in name: RepositoryName) async

    /// Drops every entry: another process (garbage collection) removed content behind it.
    func forgetAll() async
}

extension DescriptorCache {
    /// A cache shared by every process (Redis) is kept current by the one that deletes.
    public func forgetAll() async {}
}

/// What a blob is, without reading it.
public struct BlobDescriptor: Sendable, Equatable {
    public let digest: Digest
    public let size: Int64
    /// Known for manifests (what they were pushed as); nil for layers and configs.
    public let mediaType: String?

    public init(digest: Digest, size: Int64, mediaType: String? = nil) {
        self.digest = digest
        self.size = size
        self.mediaType = mediaType
    }
}

/// How a repository links a digest: as a layer or config (`_layers`), or as a manifest
/// (`_manifests/revisions`).
public enum LinkKind: String, Sendable, Hashable {
    case layer
    case manifest
}

/// No cache: every question goes to storage (registry:2 without `storage.cache`).
public struct NoDescriptorCache: DescriptorCache {
    public init() {}

    public func descriptor(of digest: Digest) async -> BlobDescriptor? { nil }
    public func remember(_ descriptor: BlobDescriptor) async {}
    public func forgetDescriptor(of digest: Digest) async {}
    public func isLinked(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async -> Bool? { nil }
    public func rememberLink(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async {}
    public func forgetLink(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async {}
    public func digest(of tag: Tag, in name: RepositoryName) async -> Digest? { nil }
    public func rememberTag(_ tag: Tag, in name: RepositoryName, as digest: Digest, replacing: Bool) async {}
    public func forgetTag(_ tag: Tag, in name: RepositoryName) async {}
}
