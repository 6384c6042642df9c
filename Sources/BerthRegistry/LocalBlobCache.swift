public import BerthStorage
internal import Foundation
public import Logging
public import OCI

/// Hot blobs on local disk in front of a driver whose bytes are remote (S3), for replicas that
/// serve bytes themselves (`storage.cache.localblobs`): a hit is sent from a local file with
/// `sendfile`; a miss starts one fill that copies the blob from storage while every reader of
/// it reads along (`BlobFill`).
///
/// A copy is named only once it hashes to its digest, by a rename, so a crash mid-fill leaves
/// at most a file under `filling/`, removed at the next start, and never serves a part. Beyond
/// `maxSize` the least recently used copies go. The index is in memory, rebuilt from the
/// directory at start (by modification time: the order of the fills).
public actor LocalBlobCache {
    struct Entry {
        var size: Int64
        var used: UInt64
    }

    let files: FilesystemDriver
    public let maxSize: Int64
    let logger: Logger
    private var entries: [Digest: Entry] = [:]
    private var fills: [Digest: BlobFill] = [:]
    private var clock: UInt64 = 0
    public private(set) var size: Int64 = 0

    static let filling = "/filling"

    init(files: FilesystemDriver, maxSize: Int64, logger: Logger) {
        self.files = files
        self.maxSize = maxSize
        self.logger = logger
    }

    /// The cache in `directory`, with what an earlier run left there: complete copies are
    /// kept, interrupted fills removed.
    public static func open(directory: String, maxSize: Int64, logger: Logger) async throws -> LocalBlobCache {
        let files = FilesystemDriver(root: directory)
        // A directory that cannot be written is said at start-up, not at the first fill.
        try await files.putContent("/writable-check", [])
        try await files.delete("/writable-check")
        try? await files.delete(filling)
        var found: [(Digest, StorageInfo)] = []
        for algorithm in Digest.Algorithm.allCases {
            let names = (try? await files.list("/\(algorithm.rawValue)")) ?? []
            for hex in names {
                guard let digest = try? Digest(algorithm: algorithm, hex: hex),
                    let info = try? await files.stat(path(digest))
                else { continue }
                found.append((digest, info))
            }
        }
        let cache = LocalBlobCache(files: files, maxSize: maxSize, logger: logger)
        await cache.index(found.sorted { $0.1.modified < $1.1.modified })
        return cache
    }

    static func path(_ digest: Digest) -> String { "/\(digest.algorithm.rawValue)/\(digest.hex)" }

    private func index(_ found: [(Digest, StorageInfo)]) async {
        for (digest, info) in found { add(digest, size: info.size) }
        await evict()
    }

    private func add(_ digest: Digest, size blobSize: Int64) {
        clock += 1
        if let old = entries.updateValue(Entry(size: blobSize, used: clock), forKey: digest) { size -= old.size }
        size += blobSize
    }

    /// Where to read `length` bytes of `blob` from `offset`: the local copy, or a fill from
    /// `storage` (which reads the blob's bytes in storage from an offset). A blob larger than
    /// the whole cache is read from storage as it is, and so are the rest of a fill's bytes
    /// when it fails (a full disk): the cache never fails a download.
    public func content(
        _ blob: BlobInfo, from offset: Int64, length: Int64,
        storage: @escaping @Sendable (_ offset: Int64, _ length: Int64?) async throws -> ByteChunks
    ) async throws -> BlobContent {
        if entries[blob.digest] != nil, let file = files.localFile(Self.path(blob.digest)) {
            clock += 1
            entries[blob.digest]?.used = clock
            return .localFile(path: file)
        }
        guard blob.size <= maxSize else { return .stream(try await storage(offset, length)) }
        let fill = fills[blob.digest] ?? start(blob, storage)
        return .stream(
            BlobFill.Reader(fill, files: files, from: offset, to: offset + length) { offset, length in
                try await storage(offset, length)
            }.chunks)
    }

    private func start(
        _ blob: BlobInfo, _ storage: @escaping @Sendable (Int64, Int64?) async throws -> ByteChunks
    ) -> BlobFill {
        let fill = BlobFill(blob: blob, staging: "\(Self.filling)/\(UUID().uuidString.lowercased())")
        fills[blob.digest] = fill
        // Its own task: a reader hanging up does not end the fill for the others.
        Task {
            let failure = await fill.run(
                files: files, source: { try await storage(0, nil) }, into: Self.path(blob.digest))
            await filled(fill, failure: failure)
        }
        return fill
    }

    private func filled(_ fill: BlobFill, failure: (any Error)?) async {
        fills[fill.blob.digest] = nil
        if let failure {
            logger.warning(
                "local copy of a blob failed; read from storage",
                metadata: ["digest": "\(fill.blob.digest)", "error": "\(failure)"])
            return
        }
        add(fill.blob.digest, size: fill.blob.size)
        await evict()
    }

    /// Drops the least recently used copies until the rest fit. A copy being sent keeps going:
    /// an open file outlives its name.
    private func evict() async {
        guard size > maxSize else { return }
        for (digest, entry) in entries.sorted(by: { $0.value.used < $1.value.used }) where size > maxSize {
            entries[digest] = nil
            size -= entry.size
            do {
                try await files.delete(Self.path(digest))
            } catch {
                logger.warning(
                    "cannot remove a local blob copy", metadata: ["digest": "\(digest)", "error": "\(error)"])
            }
        }
    }

    /// Forgets a blob deleted from storage.
    public func forget(_ digest: Digest) async {
        guard let entry = entries.removeValue(forKey: digest) else { return }
        size -= entry.size
        try? await files.delete(Self.path(digest))
    }

    /// Whether a verified copy of the blob is here (for tests and reports).
    public func contains(_ digest: Digest) -> Bool { entries[digest] != nil }
}
