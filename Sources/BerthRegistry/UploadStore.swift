internal import BerthStorage
internal import Foundation
public import NIOCore
public import OCI

/// Uploads: data goes to `_uploads/<id>/data`, hashed on the way, and becomes a blob only when
/// its digest matches the one the client names (house rule 2). Everything about an upload is in
/// storage, so an upload survives a restart and can be continued on another replica.
extension Registry {
    public func startUpload(_ name: RepositoryName) async throws -> UploadID {
        try requireWritable()
        let id = UploadID.random()
        let startedAt = ISO8601DateFormatter().string(from: Date())
        try await driver.putContent(layout.uploadStartedAt(name, id), Array(startedAt.utf8))
        return id
    }

    /// Bytes received so far. Throws `BLOB_UPLOAD_UNKNOWN` for an upload that does not exist.
    public func uploadSize(_ name: RepositoryName, _ id: UploadID) async throws -> Int64 {
        do {
            return try await driver.stat(layout.uploadData(name, id)).size
        } catch StorageError.notFound {
            guard try await exists(layout.uploadStartedAt(name, id)) else {
                throw RegistryError(.blobUploadUnknown, detail: ["uuid": id.value])
            }
            return 0
        }
    }

    /// Appends a request body to the upload. With `expectedOffset` (from `Content-Range`) the
    /// chunk must start where the upload ends; otherwise the client is told where it stands (416).
    public func appendUpload<Body: AsyncSequence>(
        _ name: RepositoryName, _ id: UploadID, body: Body, expectedOffset: Int64? = nil
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        try requireWritable()
        let size = try await uploadSize(name, id)
        if let expectedOffset, expectedOffset != size {
            throw RegistryError(
                .rangeInvalid, "chunk starts at \(expectedOffset) but the upload has \(size) bytes",
                headers: [("Range", Self.rangeHeader(size))])
        }
        var hasher = size == 0 ? DigestHasher(.sha256) : await uploadHashes.take(id, at: size)
        let writer = try await driver.writer(layout.uploadData(name, id), append: true)
        do {
            for try await chunk in body {
                chunk.withUnsafeReadableBytes { hasher?.update($0) }
                try await writer.write(chunk)
            }
            try await writer.commit()
        } catch {
            try? await writer.close()
            throw error
        }
        if let hasher { await uploadHashes.put(id, hasher, at: writer.size) }
        return writer.size
    }

    /// Completes an upload: appends the final body (if any), verifies the digest and moves the
    /// data into place. A mismatch stores nothing and discards the upload.
    public func finishUpload<Body: AsyncSequence>(
        _ name: RepositoryName, _ id: UploadID, digest: Digest, body: Body?
    ) async throws -> BlobInfo where Body.Element == ByteBuffer {
        try requireWritable()
        if let body {
            _ = try await appendUpload(name, id, body: body)
        }
        let size = try await uploadSize(name, id)
        let dataPath = layout.uploadData(name, id)
        let computed: Digest
        if digest.algorithm == .sha256, let hasher = await uploadHashes.take(id, at: size) {
            computed = hasher.finalize()
        } else if size == 0 {
            computed = DigestHasher(digest.algorithm).finalize()
            try await driver.putContent(dataPath, [])
        } else {
            computed = try await hash(dataPath, digest.algorithm)
        }
        guard computed == digest else {
            try await cancelUpload(name, id)
            throw RegistryError(
                .digestInvalid, "uploaded content has digest \(computed), not \(digest)",
                detail: ["digest": digest.description])
        }
        let blobPath = layout.blobData(digest)
        // Content is addressed by digest: a blob already stored holds these very bytes, so it
        // stays as it is (as in registry:2) and the upload's copy goes with the upload below.
        if try await !exists(blobPath) {
            try await driver.move(from: dataPath, to: blobPath)
        }
        try await writeLink(layout.layerLink(name, digest), digest)
        await uploadHashes.drop(id)  // a sha512 upload leaves the unused sha256 state behind
        try await deleteIfPresent(layout.upload(name, id))
        return BlobInfo(digest: digest, size: size, path: blobPath)
    }

    public func cancelUpload(_ name: RepositoryName, _ id: UploadID) async throws {
        _ = try await uploadSize(name, id)
        await uploadHashes.drop(id)
        try await deleteIfPresent(layout.upload(name, id))
    }

    /// Hashes stored bytes; used when no in-memory state covers the upload.
    func hash(_ path: String, _ algorithm: Digest.Algorithm) async throws -> Digest {
        var hasher = DigestHasher(algorithm)
        for try await chunk in try await driver.reader(path, offset: 0) {
            chunk.withUnsafeReadableBytes { hasher.update($0) }
        }
        return hasher.finalize()
    }

    /// registry:2's `Range` value for an upload of `size` bytes: `0-<last byte>`, `0-0` when empty.
    public static func rangeHeader(_ size: Int64) -> String {
        "0-\(max(size - 1, 0))"
    }
}
