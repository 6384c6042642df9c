internal import BerthStorage
internal import NIOCore
internal import OCI

/// Verify before you name (house rule 2), as one operation: bytes are written to a staging
/// path while they are hashed, and become the blob of a digest only once they hash to it. An
/// upload stages its chunks one request at a time; a mirrored blob is staged as it streams in.
struct BlobIngest: Sendable {
    let storage: RegistryStorage

    /// Appends `body` to `staging`, hashing it on the way with `hasher` (which must cover what
    /// `staging` already holds; nil when it does not, and the bytes are re-read at commit).
    /// Returns the staged size. An interrupted body keeps the bytes that arrived, and `hasher`
    /// still covers exactly them, so a dropped download can go on from there; it is nil when
    /// storage itself failed. `written` is called with each chunk once storage has taken it
    /// (readers following the staged bytes wait on it).
    func append<Body: AsyncSequence>(
        _ body: Body, to staging: String, hasher: inout DigestHasher?,
        written: (@Sendable (ByteBuffer) async -> Void)? = nil
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        let writer = try await storage.driver.writer(staging, append: true)
        var chunks = body.makeAsyncIterator()
        do {
            while let chunk = try await chunks.next() {
                do {
                    try await writer.write(chunk)
                } catch {
                    hasher = nil
                    throw error
                }
                chunk.withUnsafeReadableBytes { hasher?.update($0) }
                await written?(chunk)
            }
        } catch {
            try? await writer.close()
            throw error
        }
        do {
            try await writer.commit()
        } catch {
            hasher = nil
            throw error
        }
        return writer.size
    }

    /// Names the staged bytes as the blob `digest` if they hash to it; `hasher` is their hash
    /// state when one covers all `size` of them. Throws `DIGEST_INVALID` on a mismatch, leaving
    /// the staged bytes for the caller to discard.
    func commit(_ staging: String, size: Int64, hasher: DigestHasher?, as digest: Digest) async throws -> BlobInfo {
        let computed: Digest
        if let hasher, hasher.algorithm == digest.algorithm {
            computed = hasher.finalize()
        } else if size == 0 {
            computed = DigestHasher(digest.algorithm).finalize()
            try await storage.driver.putContent(staging, [])
        } else {
            computed = try await hash(staging, digest.algorithm)
        }
        guard computed == digest else {
            throw RegistryError(
                .digestInvalid, "content has digest \(computed), not \(digest)", detail: ["digest": digest.description])
        }
        let blobPath = storage.layout.blobData(digest)
        // Content is addressed by digest: a blob already stored holds these very bytes, so it
        // stays as it is (as in registry:2) and the staged copy is left to the caller to drop.
        if try await !storage.exists(blobPath) {
            try await storage.driver.move(from: staging, to: blobPath)
        }
        return BlobInfo(digest: digest, size: size, path: blobPath)
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
