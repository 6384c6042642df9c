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
    func blob(_ name: RepositoryName, _ digest: Digest) async throws -> BlobInfo {
        var linked = try await storage.isLinked(name, digest, as: .layer)
        if !linked { linked = try await storage.isLinked(name, digest, as: .manifest) }
        guard linked, let info = try await data(digest) else {
            throw RegistryError(.blobUnknown, detail: ["digest": digest.description])
        }
        return info
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

    /// Where a download of `length` bytes of the blob from `offset` gets them. `download` is
    /// false for answers that must come from Berth itself (a redirect is only for a client's
    /// `GET`).
    func content(_ blob: BlobInfo, from offset: Int64, length: Int64, download: Bool) async throws -> BlobContent {
        if redirects, download, let url = try await storage.driver.redirectURL(blob.path) {
            return .redirect(url: url)
        }
        if let file = storage.driver.localFile(blob.path) { return .localFile(path: file) }
        if let localBlobs {
            let (driver, path) = (storage.driver, blob.path)
            return try await localBlobs.content(blob, from: offset, length: length) { offset, length in
                try await driver.reader(path, offset: offset, length: length)
            }
        }
        return .stream(try await storage.driver.reader(blob.path, offset: offset, length: length))
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
