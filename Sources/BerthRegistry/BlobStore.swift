public import BerthStorage
public import OCI

/// A blob as it can be served: its digest, size and where its bytes are.
public struct BlobInfo: Sendable {
    public let digest: Digest
    public let size: Int64
    /// Driver path of the bytes.
    public let path: String
}

extension Registry {
    /// The blob if it is linked into the repository (as a layer or config, or as a manifest).
    public func blob(_ name: RepositoryName, _ digest: Digest) async throws -> BlobInfo {
        var linked = try await readLink(layout.layerLink(name, digest)) != nil
        if !linked { linked = try await readLink(layout.revisionLink(name, digest)) != nil }
        guard linked, let info = try await blobData(digest) else {
            throw RegistryError(.blobUnknown, detail: ["digest": digest.description])
        }
        return info
    }

    /// The blob's data if the registry has it, whichever repository it came from.
    func blobData(_ digest: Digest) async throws -> BlobInfo? {
        let path = layout.blobData(digest)
        do {
            let info = try await driver.stat(path)
            return BlobInfo(digest: digest, size: info.size, path: path)
        } catch StorageError.notFound {
            return nil
        }
    }

    /// The blob's bytes from `offset`.
    public func read(_ blob: BlobInfo, from offset: Int64 = 0) async throws -> ByteChunks {
        try await driver.reader(blob.path, offset: offset)
    }

    /// Unlinks a blob from the repository, as registry:2 does; the data stays for garbage collection.
    public func deleteBlob(_ name: RepositoryName, _ digest: Digest) async throws {
        try requireDeleteEnabled()
        let link = layout.layerLink(name, digest)
        guard try await readLink(link) != nil else {
            throw RegistryError(.blobUnknown, detail: ["digest": digest.description])
        }
        try await deleteLink(link)
    }

    /// Links a blob that `source` has into `name`. Returns nil when there is nothing to mount, and
    /// the client should upload instead.
    public func mountBlob(
        _ name: RepositoryName, _ digest: Digest, from source: RepositoryName
    ) async throws
        -> BlobInfo?
    {
        try requireWritable()
        guard try await readLink(layout.layerLink(source, digest)) != nil, let info = try await blobData(digest) else {
            return nil
        }
        try await writeLink(layout.layerLink(name, digest), digest)
        return info
    }
}
