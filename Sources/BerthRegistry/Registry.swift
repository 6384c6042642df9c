public import BerthCache
public import BerthStorage
public import Foundation
public import Logging
public import OCI

/// The registry domain over one storage driver: which namespace serves each repository, the
/// repositories themselves, and what spans all of them (the catalog, storage health, upload
/// purging). It knows nothing of HTTP; handlers call it with parsed values.
public struct Registry: Sendable {
    public struct Options: Sendable {
        /// `storage.delete.enabled`: deleting blobs and manifests is allowed.
        public var deleteEnabled = false
        /// `storage.maintenance.readonly.enabled`: pushes and deletes are refused.
        public var readOnly = false
        /// `storage.redirect.disable`: never redirect blob downloads to the storage backend.
        public var redirectDisabled = false
        /// `validation.manifests.urls`: which foreign-layer URLs a manifest may carry.
        public var foreignLayerURLs = ForeignLayerPolicy()
        /// Keep which manifests were pulled, for `manifestDigestImmediately`. Right only beside
        /// the in-memory descriptor cache, whose links are as durable (`HeldManifests`).
        public var holdManifests = false

        public init() {}
    }

    let options: Options
    let stores: Stores
    let router: RepositoryRouter

    /// `routed` are the namespaces besides local storage (upstream mirrors), asked in order;
    /// `cache` is the descriptor cache in front of storage and `localBlobs` the local copies of
    /// blobs (the mirrors must share both).
    public init(
        driver: any StorageDriver, cache: any DescriptorCache = NoDescriptorCache(), options: Options = Options(),
        localBlobs: LocalBlobCache? = nil, logger: Logger, routed: [any RoutedNamespace] = []
    ) {
        self.options = options
        stores = Stores(
            storage: RegistryStorage(driver: driver, cache: cache, logger: logger),
            redirects: !options.redirectDisabled,
            foreignLayerURLs: options.foreignLayerURLs, localBlobs: localBlobs,
            held: options.holdManifests ? HeldManifests() : nil)
        router = RepositoryRouter(local: LocalNamespace(stores: stores), routed: routed)
    }

    /// The repository `name` as a request sees it; `ns` is containerd's `ns` query parameter.
    public func repository(_ name: RepositoryName, ns: String? = nil) -> Repository {
        Repository(name: name, namespace: router.namespace(for: name, ns: ns), stores: stores, options: options)
    }

    /// Whether pulled manifests are held for `manifestDigestImmediately` (`Options.holdManifests`).
    public var holdsManifests: Bool { stores.held != nil }

    /// The digest of the manifest `reference` names in a local repository, when it is known
    /// without waiting: the repository was pulled with it in this process, and for a tag, the
    /// tag's link names it as storage has it now (read at once, where the driver can: a local
    /// file). Nil when any of that is not so; `repository(_:ns:).manifest(_:)` then gives the
    /// answer, whatever it is. Called on an event loop.
    public func manifestDigestImmediately(_ name: RepositoryName, ns: String? = nil, _ reference: Reference) -> Digest?
    {
        immediateTarget(name, ns: ns, reference).flatMap(manifestDigestImmediately)
    }

    /// What `manifestDigestImmediately` needs of a reference that does not change from request
    /// to request, worked out once; nil for a repository never answered at once (one not
    /// served by local storage, or with no manifests held).
    public func immediateTarget(_ name: RepositoryName, ns: String? = nil, _ reference: Reference) -> ImmediateTarget? {
        guard stores.held != nil, router.isLocal(name, ns: ns) else { return nil }
        switch reference {
        case .digest(let digest): return ImmediateTarget(name: name, digest: digest, tagLink: nil)
        case .tag(let tag):
            return ImmediateTarget(name: name, digest: nil, tagLink: stores.storage.layout.tagCurrentLink(name, tag))
        }
    }

    public func manifestDigestImmediately(_ target: ImmediateTarget) -> Digest? {
        guard let held = stores.held else { return nil }
        var digest = target.digest
        if let link = target.tagLink, let bytes = stores.storage.driver.contentImmediately(link, upTo: 256) {
            digest = try? Digest(parsing: String(decoding: bytes, as: UTF8.self))
        }
        guard let digest, held.isHeld(target.name, digest) else { return nil }
        return digest
    }

    /// Repository names in lexical order, after `last`, at most `limit`.
    public func repositories(after last: String? = nil, limit: Int) async throws -> [String] {
        try await stores.catalog.repositories(after: last, limit: limit)
    }

    /// Throws what storage answers when it cannot be listed (`/debug/health`); an empty
    /// registry is healthy.
    public func checkStorage() async throws {
        do {
            _ = try await stores.storage.driver.list("/")
        } catch StorageError.notFound {}
    }

    /// When the last garbage collection that removed anything ended its deciding (nil: none
    /// ever did), from its mark's time in storage. A change means content this process's
    /// caches know of may be gone. A `stat`, not a read: reading it at start-up through
    /// Foundation cost a quarter of a MiB of idle memory. (S3 keeps whole seconds: two runs
    /// that both remove something within one second look like one.)
    public func lastCollection() async -> Double? {
        try? await stores.storage.driver.stat(stores.storage.layout.garbageCollected).modified
    }

    /// Forgets what this process's caches hold of storage, after a collection elsewhere.
    public func forgetCached() async {
        await stores.storage.cache.forgetAll()
        stores.held?.forgetAll()
    }

    /// The storage driver's name, for health reports and logs.
    public var storageName: String { stores.storage.driver.name }

    /// Deletes uploads started before `cutoff` (registry:2's upload purging): clients that gave
    /// up leave their partial data behind, and nothing else ever removes it. Returns the ids
    /// purged (or, with `dryRun`, that would be).
    @discardableResult
    public func purgeUploads(startedBefore cutoff: Date, dryRun: Bool = false) async throws -> [String] {
        guard !options.readOnly else { return [] }
        return try await stores.uploads.purge(
            in: try await stores.catalog.repositoryDirectories(), startedBefore: cutoff, dryRun: dryRun)
    }
}

/// A manifest reference of a local repository as `Registry.manifestDigestImmediately` reads
/// it: a digest, or the path of a tag's link.
public struct ImmediateTarget: Sendable {
    let name: RepositoryName
    let digest: Digest?
    let tagLink: String?
}
