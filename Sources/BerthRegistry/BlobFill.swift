internal import BerthStorage
internal import NIOCore
internal import OCI

/// One copy of a blob from storage into the local blob cache, which every reader of the blob
/// reads while it runs: bytes up to `written` are in the staging file, and once the copy hashes
/// to its digest it is renamed into place and read from there.
actor BlobFill {
    enum State {
        case filling
        case stored(path: String)
        case failed(any Error)
    }

    let blob: BlobInfo
    let staging: String
    private(set) var state = State.filling
    private(set) var written: Int64 = 0
    private var generation = 0
    private var waiters: [(after: Int, continuation: CheckedContinuation<Void, Never>)] = []

    init(blob: BlobInfo, staging: String) {
        self.blob = blob
        self.staging = staging
    }

    /// Copies `source` into `staging` while hashing it, then names it `destination` if it
    /// hashes to the blob's digest and has its size. Returns why it did not, if it did not.
    func run(
        files: FilesystemDriver, source: @Sendable () async throws -> ByteChunks, into destination: String
    ) async -> (any Error)? {
        do {
            let upload = try await files.multipartUpload(staging)
            var hasher = DigestHasher(blob.digest.algorithm)
            do {
                for try await chunk in try await source() {
                    try await upload.write(chunk)
                    chunk.withUnsafeReadableBytes { hasher.update($0) }
                    written += Int64(chunk.readableBytes)
                    changed()
                }
                guard written == blob.size, hasher.finalize() == blob.digest else {
                    throw StorageError.io("\(blob.digest) in storage has other bytes (\(written) of \(blob.size))")
                }
                try await upload.complete(at: destination)
            } catch {
                try? await upload.abort()
                throw error
            }
            state = .stored(path: destination)
            changed()
            return nil
        } catch {
            state = .failed(error)
            changed()
            return error
        }
    }

    private func changed() {
        generation += 1
        let ready = waiters.filter { $0.after < generation }
        waiters.removeAll { $0.after < generation }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// What a reader at `offset` may read now: the bytes staged so far (up to `available`),
    /// the stored copy, or nothing yet (wait past `generation`).
    func progress() -> (state: State, available: Int64, generation: Int) { (state, written, generation) }

    func wait(after seen: Int) async {
        if generation > seen { return }
        await withCheckedContinuation { waiters.append((seen, $0)) }
    }

    /// A reader of `from ..< to` of the blob, following the fill; once it failed, reading on
    /// from `storage` (an offset and a length).
    final class Reader: @unchecked Sendable {
        // Only touched by the one task that writes the response.
        private let fill: BlobFill
        private let files: FilesystemDriver
        private let storage: @Sendable (Int64, Int64?) async throws -> ByteChunks
        private var offset: Int64
        private let end: Int64
        /// The reader in use, and whether it is the last (the stored copy or storage itself).
        private var open: (chunks: ByteChunks.AsyncIterator, last: Bool)?

        init(
            _ fill: BlobFill, files: FilesystemDriver, from offset: Int64, to end: Int64,
            storage: @escaping @Sendable (Int64, Int64?) async throws -> ByteChunks
        ) {
            self.fill = fill
            self.files = files
            self.offset = offset
            self.end = end
            self.storage = storage
        }

        var chunks: ByteChunks { ByteChunks { try await self.next() } }

        func next() async throws -> ByteBuffer? {
            while offset < end {
                if var reader = open {
                    if let chunk = try await reader.chunks.next() {
                        open = reader
                        offset += Int64(chunk.readableBytes)
                        return chunk
                    }
                    open = nil
                    if reader.last { throw StorageError.io("\(fill.blob.digest) ended at byte \(offset)") }
                    continue
                }
                let (state, available, generation) = await fill.progress()
                switch state {
                case .failed:
                    open = (try await storage(offset, end - offset).makeAsyncIterator(), true)
                case .stored(let path):
                    open = (
                        try await files.reader(path, offset: offset, length: end - offset).makeAsyncIterator(), true
                    )
                case .filling where available > offset:
                    do {
                        let length = min(available, end) - offset
                        open = (
                            try await files.reader(fill.staging, offset: offset, length: length).makeAsyncIterator(),
                            false
                        )
                    } catch StorageError.notFound {
                        await fill.wait(after: generation)  // renamed into place meanwhile
                    }
                case .filling:
                    await fill.wait(after: generation)
                }
            }
            return nil
        }
    }
}
