/// The stores over one storage driver, built once and shared: every namespace and repository
/// reads and writes through these.
struct Stores: Sendable {
    let storage: RegistryStorage
    let blobs: BlobStore
    let uploads: UploadStore
    let tags: TagStore
    let manifests: ManifestStore
    let referrers: ReferrerStore
    let catalog: Catalog
    /// Manifests pulled from local repositories, for immediate answers; nil when not held.
    let held: HeldManifests?

    init(
        storage: RegistryStorage, redirects: Bool, foreignLayerURLs: ForeignLayerPolicy,
        localBlobs: LocalBlobCache? = nil, held: HeldManifests? = nil
    ) {
        self.storage = storage
        blobs = BlobStore(storage: storage, redirects: redirects, localBlobs: localBlobs)
        uploads = UploadStore(storage: storage, ingest: BlobIngest(storage: storage), blobs: blobs)
        tags = TagStore(storage: storage)
        manifests = ManifestStore(
            storage: storage, blobs: blobs, tags: tags, foreignLayerURLs: foreignLayerURLs, held: held)
        referrers = ReferrerStore(storage: storage, manifests: manifests)
        catalog = Catalog(storage: storage)
        self.held = held
    }
}
