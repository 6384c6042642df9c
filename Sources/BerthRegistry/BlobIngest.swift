internal import BerthStorage
internal import NIOCore
internal import OCI

/// Verify before you name (house rule 2), as one operation: bytes are staged in a multipart
/// upload while they are hashed, and become the blob of a digest only once they hash to it. A
/// client's upload stages one part per request; a mirrored blob is staged as it streams in.
struct BlobIngest: Sendable {
    let storage: RegistryStorage
    /// Whether staged bytes are read while they are staged (a mirror's, by other replicas).
    var readable = false

    /// Appends `body` to the upload at `staging` as one part, hashing it on the way with
    /// `hasher` (which must cover what is staged already; nil when it does not, and the bytes
    /// are read back at commit). Returns the staged size. An interrupted body keeps the bytes
    /// that arrived, and `hasher` still covers exactly them, so a dropped download can go on
    /// from there; it is nil when storage itself failed. `written` is called with each chunk
    /// once storage has taken it (readers following the staged bytes wait on it).
    func append<Body: AsyncSequence>(
        _ body: Body, to staging: String, hasher: inout DigestHasher?,
        written: (@Sendable (ByteBuffer) async -> Void)? = nil
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        try await append(body, to: try await open(staging), hasher: &hasher, written: written)
    }

    /// The multipart upload staged at `staging`. Opening costs an object store a few requests,
    /// so a request that appends and then commits opens it once and passes it to both.
    func open(_ staging: String) async throws -> any MultipartUpload {
        try await storage.driver.multipartUpload(staging, readable: readable)
    }

    /// `append(_:to:hasher:written:)` on an upload already open.
    func append<Body: AsyncSequence>(
        _ body: Body, to upload: any MultipartUpload, hasher: inout DigestHasher?,
        written: (@Sendable (ByteBuffer) async -> Void)? = nil
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        var chunks = body.makeAsyncIterator()
        do {
            while let chunk = try await chunks.next() {
                do {
                    try await upload.write(chunk)
                } catch {
                    hasher = nil
                    throw error
                }
                chunk.withUnsafeReadableBytes { hasher?.update($0) }
                await written?(chunk)
            }
        } catch {
            try? await upload.finishPart()
            throw error
        }
        do {
            try await upload.finishPart()
        } catch {
            hasher = nil
            throw error
        }
        return upload.size
    }

    /// How many bytes are staged at `staging`.
    func stagedSize(_ staging: String) async throws -> Int64 {
        try await open(staging).size
    }

    /// Names the staged bytes as the blob `digest` if they hash to it; `hasher` is their hash
    /// state when one covers all `size` of them. Throws `DIGEST_INVALID` on a mismatch, leaving
    /// what was staged for the caller to `discard`.
    func commit(_ staging: String, size: Int64, hasher: DigestHasher?, as digest: Digest) async throws -> BlobInfo {
        try await commit(try await open(staging), at: staging, size: size, hasher: hasher, as: digest)
    }

    /// `commit(_:size:hasher:as:)` of an upload already open at `staging`.
    func commit(
        _ upload: any MultipartUpload, at staging: String, size: Int64, hasher: DigestHasher?, as digest: Digest
    ) async throws -> BlobInfo {
        let blobPath = storage.layout.blobData(digest)
        // Content is addressed by digest: a blob already stored holds these very bytes, so it
        // stays as it is (as in registry:2) and the staged copy is dropped.
        if let hasher, hasher.algorithm == digest.algorithm {
            // The parts become the blob in one step, with no copy.
            try Self.expect(hasher.finalize(), digest)
            if try await storage.exists(blobPath) {
                try await upload.abort()
            } else {
                try await upload.complete(at: blobPath)
            }
        } else {
            // No hash state covers the parts (another process staged them, or a sha512 digest
            // was named): they are joined where they are and read back.
            try await upload.complete(at: staging)
            try Self.expect(try await hash(staging, digest.algorithm), digest)
            if try await storage.exists(blobPath) {
                try await storage.deleteIfPresent(staging)
            } else {
                try await storage.driver.move(from: staging, to: blobPath)
            }
        }
        return BlobInfo(digest: digest, size: size, path: blobPath)
    }

    /// Throws away what is staged: the upload's parts, or the object they were joined into.
    func discard(_ staging: String) async throws {
        try await open(staging).abort()
        try await storage.deleteIfPresent(staging)
    }

    private static func expect(_ computed: Digest, _ digest: Digest) throws {
        guard computed == digest else {
            throw RegistryError(
                .digestInvalid, "content has digest \(computed), not \(digest)", detail: ["digest": digest.description])
        }
    }

    /// Hashes stored bytes; used when no hash state covers them.
    private func hash(_ path: String, _ algorithm: Digest.Algorithm) async throws -> Digest {
        var hasher = DigestHasher(algorithm)
        for try await chunk in try await storage.driver.reader(path, offset: 0) {
            chunk.withUnsafeReadableBytes { hasher.update($0) }
        }
        return hasher.finalize()
    }
}
