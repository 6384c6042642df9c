public import BerthCache
public import BerthStorage
internal import Foundation
public import Logging
public import NIOCore
public import OCI

/// Local storage as a mirror uses it: mirrored manifests and blobs are kept in the registry:2
/// layout like pushed ones (so they are served, listed and mounted the same way), but stored
/// without the checks a push needs (a mirrored manifest's blobs arrive on demand), and blobs
/// come in through a staging area, verified before they are named (`BlobIngest`).
public struct MirrorCache: Sendable {
    let stores: Stores
    let ingest: BlobIngest
    /// When each upstream's cached content was last used (expiry reads it).
    public let usage: MirrorUsage

    /// `cache` and `localBlobs` are the registry's own: mirrored and pushed content share them.
    public init(
        driver: any StorageDriver, cache: any DescriptorCache, localBlobs: LocalBlobCache? = nil, logger: Logger
    ) {
        stores = Stores(
            storage: RegistryStorage(driver: driver, cache: cache, logger: logger), redirects: false,
            foreignLayerURLs: ForeignLayerPolicy(), localBlobs: localBlobs)
        ingest = BlobIngest(storage: stores.storage, readable: true)
        usage = MirrorUsage(storage: stores.storage)
    }

    var storage: RegistryStorage { stores.storage }
    var layout: RegistryLayout { storage.layout }

    // MARK: manifests

    /// The cached manifest, or nil when the cache does not have it.
    public func manifest(_ name: RepositoryName, _ reference: Reference) async throws -> StoredManifest? {
        do {
            return try await stores.manifests.manifest(name, reference)
        } catch let error as RegistryError where error.code == .manifestUnknown {
            return nil
        }
    }

    /// The digest a cached tag points at.
    public func tagDigest(_ name: RepositoryName, _ tag: Tag) async throws -> Digest? {
        try await stores.tags.digest(name, tag)
    }

    /// Keeps manifest bytes as upstream sent them, under `digest` (which they must hash to),
    /// and points `tag` at them.
    public func store(
        manifest bytes: [UInt8], as digest: Digest, in name: RepositoryName, tag: Tag?
    ) async throws -> StoredManifest {
        guard Digest.of(bytes, algorithm: digest.algorithm) == digest else {
            throw RegistryError(.digestInvalid, "upstream manifest does not hash to \(digest)")
        }
        let path = layout.blobData(digest)
        if try await !storage.exists(path) { try await storage.driver.putContent(path, bytes) }
        try await storage.link(name, digest, as: .manifest)
        if let tag, try await stores.tags.digest(name, tag) != digest { try await stores.tags.set(name, tag, digest) }
        return StoredManifest(digest: digest, mediaType: ManifestStore.storedMediaType(bytes), bytes: bytes)
    }

    public func tags(_ name: RepositoryName, after last: String?, limit: Int?) async throws -> [String] {
        try await stores.tags.list(name, after: last, limit: limit)
    }

    /// The referrers upstream last gave for `subject`, or nil when it was never asked.
    public func referrers(_ name: RepositoryName, of subject: Digest) async throws -> [Descriptor]? {
        do {
            let bytes = try await storage.driver.getContent(layout.mirrorReferrers(name, subject))
            return try JSONDecoder().decode([Descriptor].self, from: Data(bytes))
        } catch StorageError.notFound {
            return nil
        }
    }

    /// Keeps upstream's referrers of `subject`, to answer while the upstream is down.
    public func store(referrers: [Descriptor], of subject: Digest, in name: RepositoryName) async throws {
        try await storage.driver.putContent(
            layout.mirrorReferrers(name, subject), Array(try JSONEncoder().encode(referrers)))
    }

    // MARK: blobs

    /// The blob if it is cached for `name`; nil when it is not.
    public func blob(_ name: RepositoryName, _ digest: Digest) async throws -> BlobInfo? {
        try? await stores.blobs.blob(name, digest, download: false)
    }

    /// The blob's bytes if the registry stores them for any repository (another upstream's
    /// or a local push), to be linked into `name` once upstream confirms it has the blob.
    public func stored(_ digest: Digest) async throws -> BlobInfo? {
        try await stores.blobs.data(digest)
    }

    public func link(_ blob: BlobInfo, into name: RepositoryName) async throws {
        try await stores.blobs.link(blob.digest, into: name)
    }

    public func content(_ blob: BlobInfo, from offset: Int64, length: Int64) async throws -> BlobContent {
        try await stores.blobs.content(blob, from: offset, length: length, download: false)
    }

    /// What a blob of `size` bytes will be once fetched: its size is known before its bytes.
    public func expectedBlob(_ digest: Digest, size: Int64) -> BlobInfo {
        BlobInfo(digest: digest, size: size, path: layout.blobData(digest))
    }

    /// A new, unused staging path for one fetch.
    public func newStagingPath() -> String {
        "\(layout.mirrorStaging)/\(UUID().uuidString.lowercased())"
    }

    /// Appends upstream bytes to a staging path, hashing them on the way. When the body breaks
    /// off, `hasher` still covers what was staged (`BlobIngest.append`).
    public func stage<Body: AsyncSequence>(
        _ body: Body, to staging: String, hasher: inout DigestHasher?,
        written: @escaping @Sendable (ByteBuffer) async -> Void
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        try await ingest.append(body, to: staging, hasher: &hasher, written: written)
    }

    /// How many bytes a staging path holds.
    public func stagedSize(_ staging: String) async throws -> Int64 {
        try await ingest.stagedSize(staging)
    }

    /// Names staged bytes as the blob `digest` if they hash to it, and links it into `name`.
    public func commit(
        _ staging: String, size: Int64, hasher: DigestHasher?, as digest: Digest, into name: RepositoryName
    ) async throws -> BlobInfo {
        let blob = try await ingest.commit(staging, size: size, hasher: hasher, as: digest)
        try await stores.blobs.link(digest, into: name)
        return blob
    }

    public func discard(_ staging: String) async {
        try? await ingest.discard(staging)
    }

    /// The bytes staged at `staging` from `offset` to what is there now, while a fetch (in
    /// this process or another) stages them.
    public func readStaged(_ staging: String, from offset: Int64) async throws -> ByteChunks {
        try await storage.driver.uploadReader(staging, offset: offset)
    }

    /// A stored blob's bytes from `offset`, for readers that follow a fetch to its end.
    public func read(_ blob: BlobInfo, from offset: Int64) async throws -> ByteChunks {
        try await storage.driver.reader(blob.path, offset: offset)
    }

    // MARK: expiry

    /// The digests every repository links (blobs and manifests), local and mirrored alike:
    /// one walk of `repositories/`, so that expiry knows what else still needs a blob's bytes.
    public func links() async throws -> [RepositoryName: RepositoryLinks] {
        let tree: [DirectoryListing]
        do {
            tree = try await storage.driver.directoryTree(layout.repositories) {
                $0 != "_uploads" && $0 != "_referrers"
            }
        } catch StorageError.notFound {
            return [:]
        }
        var result: [RepositoryName: RepositoryLinks] = [:]
        for listing in tree {
            for algorithm in Digest.Algorithm.allCases {
                for (suffix, isManifest) in [
                    ("/_layers/\(algorithm.rawValue)", false), ("/_manifests/revisions/\(algorithm.rawValue)", true),
                ] where listing.path.hasSuffix(suffix) {
                    guard let name = try? RepositoryName(String(listing.path.dropLast(suffix.count))) else { continue }
                    let digests = listing.children.compactMap { try? Digest(algorithm: algorithm, hex: $0) }
                    if isManifest {
                        result[name, default: RepositoryLinks()].manifests.formUnion(digests)
                    } else {
                        result[name, default: RepositoryLinks()].blobs.formUnion(digests)
                    }
                }
            }
        }
        return result
    }

    /// What a cached manifest references (config, layers, child manifests); empty when its
    /// bytes are gone or are not a manifest.
    public func references(ofManifest digest: Digest) async -> [Digest] {
        guard let bytes = try? await storage.driver.getContent(layout.blobData(digest)),
            let manifest = try? Manifest(bytes: bytes, contentType: nil)
        else { return [] }
        return ([manifest.config].compactMap { $0 } + manifest.layers + manifest.manifests).compactMap {
            try? $0.digest()
        }
    }

    /// Takes a digest out of the cached repositories `names`: their layer and revision links,
    /// and the tags that point at it.
    public func unlink(_ digest: Digest, from names: [RepositoryName]) async throws {
        for name in names {
            try await storage.unlink(name, digest, as: .layer)
            try await storage.unlink(name, digest, as: .manifest)
            try await storage.deleteIfPresent(layout.mirrorReferrers(name, digest))
            for tag in try await storage.listIfPresent(layout.tags(name)) {
                guard let tag = try? Tag(tag), try await stores.tags.digest(name, tag) == digest else { continue }
                try await stores.tags.delete(name, tag)
            }
        }
    }

    /// Whether any of the repositories links the digest now (as a blob or a manifest).
    public func isLinked(_ digest: Digest, inAnyOf names: some Sequence<RepositoryName>) async throws -> Bool {
        for name in names {
            if try await storage.exists(layout.layerLink(name, digest)) { return true }
            if try await storage.exists(layout.revisionLink(name, digest)) { return true }
        }
        return false
    }

    /// Removes a blob's bytes; only for blobs that no repository links any more.
    public func deleteData(_ digest: Digest) async throws {
        try await storage.deleteIfPresent(layout.blobDirectory(digest))
        await storage.cache.forgetDescriptor(of: digest)
        await stores.blobs.localBlobs?.forget(digest)
    }

    /// Removes what is left of a cached repository that links nothing any more, so the catalog
    /// stops listing it. Only its own `_…` directories go: repositories nested below its name
    /// (`a/b/c` below `a/b`) stay.
    public func deleteRepositoryIfEmpty(_ name: RepositoryName) async throws {
        for algorithm in Digest.Algorithm.allCases {
            let layers = "\(layout.repository(name))/_layers/\(algorithm.rawValue)"
            let revisions = "\(layout.revisions(name))/\(algorithm.rawValue)"
            if try await !storage.listIfPresent(layers, limit: 1).isEmpty { return }
            if try await !storage.listIfPresent(revisions, limit: 1).isEmpty { return }
        }
        try await storage.deleteIfPresent("\(layout.repository(name))/_layers")
        try await storage.deleteIfPresent("\(layout.repository(name))/_manifests")
    }

    /// Removes partial fetches a crash left behind, at start-up: all of them when this process
    /// is the only one on the storage, else those untouched for `idle` seconds (other replicas'
    /// downloads in progress stay).
    public func removeStaging(idle: Double? = nil) async throws {
        guard let idle else {
            try await storage.deleteIfPresent(layout.mirrorStaging)
            return
        }
        let cutoff = Date().timeIntervalSince1970 - idle
        // One fetch may be several objects ("<id>.segment.<n>" on S3): it is idle when the
        // newest of them is.
        var fetches: [Substring: (paths: [String], modified: Double)] = [:]
        for name in try await storage.listIfPresent(layout.mirrorStaging) {
            let path = "\(layout.mirrorStaging)/\(name)"
            guard let info = try? await storage.driver.stat(path) else { continue }
            let id = name.prefix { $0 != "." }
            let seen = fetches[id] ?? ([], 0)
            fetches[id] = (seen.paths + [path], max(seen.modified, info.modified))
        }
        for (paths, modified) in fetches.values where modified < cutoff {
            for path in paths { try await storage.deleteIfPresent(path) }
        }
    }
}

/// The digests one repository links: blobs (`_layers`) and manifests (`_manifests/revisions`).
public struct RepositoryLinks: Sendable, Equatable {
    public var blobs: Set<Digest> = []
    public var manifests: Set<Digest> = []

    public var all: Set<Digest> { blobs.union(manifests) }
}
