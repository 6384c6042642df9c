public import NIOCore
public import OCI

/// One repository as a request sees it: reads come from the namespace that serves the name
/// (local storage or an upstream mirror); pushes and deletes go to local storage, only where
/// both the registry's options and the namespace allow them.
public struct Repository: Sendable {
    public let name: RepositoryName
    let namespace: any RepositoryNamespace
    let stores: Stores
    let options: Registry.Options

    // MARK: reads

    public func manifest(_ reference: Reference) async throws -> StoredManifest {
        try await namespace.manifest(name, reference)
    }

    /// `download` is false for a `HEAD`: nothing but the size is needed.
    public func blob(_ digest: Digest, download: Bool = true) async throws -> BlobInfo {
        try await namespace.blob(name, digest, download: download)
    }

    /// Where `length` bytes of the blob from `offset` come from (nil: all of it).
    public func content(
        _ blob: BlobInfo, from offset: Int64 = 0, length: Int64? = nil, download: Bool = true
    ) async throws -> BlobContent {
        try await namespace.content(name, blob, from: offset, length: length ?? blob.size - offset, download: download)
    }

    /// Tags in lexical order, after `last`, at most `limit`; `NAME_UNKNOWN` for no repository.
    public func tags(after last: String? = nil, limit: Int? = nil) async throws -> [String] {
        try await namespace.tags(name, after: last, limit: limit)
    }

    /// Manifests whose `subject` is `digest`, optionally of one artifact type.
    public func referrers(of digest: Digest, artifactType: String? = nil) async throws -> [Descriptor] {
        try await namespace.referrers(name, of: digest, artifactType: artifactType)
    }

    // MARK: writes

    /// Checks and stores a manifest, links it into the repository and points the tag at it.
    public func putManifest(
        _ reference: Reference, bytes: [UInt8], contentType: String?
    ) async throws
        -> PushedManifest
    {
        try requireWritable()
        return try await stores.manifests.put(name, reference, bytes: bytes, contentType: contentType)
    }

    /// Deletes a manifest by digest (with every tag pointing at it), or just a tag.
    /// Returns the tags it removed.
    @discardableResult
    public func deleteManifest(_ reference: Reference) async throws -> [Tag] {
        try requireDeleteEnabled()
        return try await stores.manifests.delete(name, reference)
    }

    /// Unlinks a blob from the repository, as registry:2 does; the data stays for garbage collection.
    public func deleteBlob(_ digest: Digest) async throws {
        try requireDeleteEnabled()
        try await stores.blobs.unlink(name, digest)
    }

    /// Links a blob that `source` has into this repository. Returns nil when there is nothing
    /// to mount, and the client should upload instead.
    public func mountBlob(_ digest: Digest, from source: RepositoryName) async throws -> BlobInfo? {
        try requireWritable()
        return try await stores.blobs.mount(digest, from: source, into: name)
    }

    public func startUpload() async throws -> UploadID {
        try requireWritable()
        return try await stores.uploads.start(name)
    }

    /// Bytes received so far; `BLOB_UPLOAD_UNKNOWN` for an upload that does not exist.
    public func uploadSize(_ id: UploadID) async throws -> Int64 {
        try await stores.uploads.size(name, id)
    }

    /// Appends a request body; with `expectedOffset` the chunk must start where the upload ends.
    public func appendUpload<Body: AsyncSequence>(
        _ id: UploadID, body: Body, expectedOffset: Int64? = nil
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        try requireWritable()
        return try await stores.uploads.append(name, id, body: body, expectedOffset: expectedOffset)
    }

    /// Appends the final body (if any), verifies the digest and makes the upload a blob.
    public func finishUpload<Body: AsyncSequence>(
        _ id: UploadID, digest: Digest, body: Body?
    ) async throws -> BlobInfo where Body.Element == ByteBuffer {
        try requireWritable()
        return try await stores.uploads.finish(name, id, digest: digest, body: body)
    }

    public func cancelUpload(_ id: UploadID) async throws {
        try await stores.uploads.cancel(name, id)
    }

    // MARK: policy

    private func requireWritable() throws(RegistryError) {
        if options.readOnly {
            throw RegistryError(.unsupported, "the registry is in read-only mode")
        }
        if let reason = namespace.readOnlyReason {
            throw RegistryError(.denied, "\(name) is read-only: \(reason)", detail: ["name": name.value])
        }
    }

    private func requireDeleteEnabled() throws(RegistryError) {
        try requireWritable()
        guard options.deleteEnabled else {
            throw RegistryError(.unsupported, "deletion is disabled (storage.delete.enabled is false)")
        }
    }
}
