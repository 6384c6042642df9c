internal import BerthCache
internal import BerthStorage
internal import OCI

/// The blobs of the registry (`blobs/<alg>/…/data`) and their links into repositories.
public struct BlobStore: Sendable {
    let storage: RegistryStorage
    /// Downloads may be redirected to the driver's own URL (`storage.redirect.disable` is false).
    let redirects: Bool
    /// Hot blobs on local disk, when storage is remote and `storage.cache.localblobs` is set.
    let localBlobs: LocalBlobCache?

    var layout: RegistryLayout { storage.layout }

    /// The blob if it is linked into the repository (as a layer or config, or as a manifest).
    /// A download also finds it while a garbage collection has it set aside (`aside`); an
    /// existence check (`HEAD`, before a push decides what to upload) does not.
    func blob(_ name: RepositoryName, _ digest: Digest, download: Bool) async throws -> BlobInfo {
        var linked = try await storage.isLinked(name, digest, as: .layer)
        if !linked { linked = try await storage.isLinked(name, digest, as: .manifest) }
        if linked, let info = try await data(digest) { return info }
        if linked, download, let info = try await aside(digest) { return info }
        throw RegistryError(.blobUnknown, detail: ["digest": digest.description])
    }

    /// The blob's data if the registry has it, whichever repository it came from.
    func data(_ digest: Digest) async throws -> BlobInfo? {
        let path = layout.blobData(digest)
        if let known = await storage.cache.descriptor(of: digest) {
            return BlobInfo(digest: digest, size: known.size, path: path)
        }
        do {
            let info = try await storage.driver.stat(path)
            await storage.cache.remember(BlobDescriptor(digest: digest, size: info.size))
            return BlobInfo(digest: digest, size: info.size, path: path)
        } catch StorageError.notFound {
            return nil
        }
    }

    /// A blob a garbage collection has set aside and not yet decided about. Between its move
    /// aside and its second look, the collector cannot know that a manifest linked meanwhile
    /// needs the blob; such a manifest gets it back once the second look is done. Until then its
    /// pulls read the blob where the collector put it, so that an image pushed while a
    /// collection runs stays pullable throughout (`GarbageCollector`).
    func aside(_ digest: Digest) async throws -> BlobInfo? {
        let path = layout.garbageTrash(digest)
        guard let info = try? await storage.driver.stat(path) else { return nil }
        return BlobInfo(digest: digest, size: info.size, path: path)
    }

    /// Where a download of `length` bytes of the blob from `offset` gets them. `download` is
    /// false for answers that must come from Berth itself (a redirect is only for a client's
    /// `GET`). Bytes a collection set aside after `blob` found them are read where they are now.
    func content(_ blob: BlobInfo, from offset: Int64, length: Int64, download: Bool) async throws -> BlobContent {
        let driver = storage.driver
        let (path, aside) = (blob.path, layout.garbageTrash(blob.digest))
        if redirects, download, let url = try await driver.redirectURL(path) {
            // Looked up first (one HEAD), so that a missing blob gets the registry's error
            // rather than the store's, and one set aside is fetched where it is.
            if try await storage.exists(path) { return .redirect(url: url) }
            if try await storage.exists(aside), let url = try await driver.redirectURL(aside) {
                return .redirect(url: url)
            }
            throw RegistryError(.blobUnknown, detail: ["digest": blob.digest.description])
        }
        if let file = driver.localFile(path) ?? driver.localFile(aside) { return .localFile(path: file) }
        let read: @Sendable (Int64, Int64?) async throws -> ByteChunks = { offset, length in
            do {
                return try await driver.reader(path, offset: offset, length: length)
            } catch StorageError.notFound where path != aside {
                return try await driver.reader(aside, offset: offset, length: length)
            }
        }
        if let localBlobs {
            return try await localBlobs.content(blob, from: offset, length: length, storage: read)
        }
        return .stream(try await read(offset, length))
    }

    /// Unlinks a blob from the repository, as registry:2 does; the data stays for garbage collection.
    func unlink(_ name: RepositoryName, _ digest: Digest) async throws {
        guard try await storage.isLinked(name, digest, as: .layer) else {
            throw RegistryError(.blobUnknown, detail: ["digest": digest.description])
        }
        try await storage.unlink(name, digest, as: .layer)
    }

    /// Links a blob that `source` has into `name`. Returns nil when there is nothing to mount.
    func mount(_ digest: Digest, from source: RepositoryName, into name: RepositoryName) async throws -> BlobInfo? {
        guard try await storage.isLinked(source, digest, as: .layer), let info = try await data(digest)
        else { return nil }
        try await link(digest, into: name)
        return info
    }

    func link(_ digest: Digest, into name: RepositoryName) async throws {
        try await storage.link(name, digest, as: .layer)
    }

    /// Whether the repository holds the blob as a layer or config: what a manifest may name.
    func hasLayer(_ name: RepositoryName, _ digest: Digest) async throws -> Bool {
        guard try await storage.isLinked(name, digest, as: .layer) else { return false }
        return try await data(digest) != nil
    }
}
