internal import NIOCore
internal import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// A multipart upload on a file system: every part is appended to one file at the upload's own
/// path, so the upload's size is the file's, a reader can follow the file while it grows (the
/// mirror's followers do), and completing is a rename.
final class FilesystemUpload: MultipartUpload, @unchecked Sendable {
    // Only touched by the one task that owns the upload.
    private let driver: FilesystemDriver
    private let path: String
    private let full: String
    private(set) var size: Int64
    private var part: AppendingFile?

    init(driver: FilesystemDriver, path: String, full: String, size: Int64) {
        self.driver = driver
        self.path = path
        self.full = full
        self.size = size
    }

    func write(_ buffer: ByteBuffer) async throws {
        guard buffer.readableBytes > 0 else { return }
        if part == nil { part = try await openPart() }
        try await part!.write(buffer)
        size += Int64(buffer.readableBytes)
    }

    private func openPart() async throws -> AppendingFile {
        let (full, path) = (self.full, self.path)
        let fd = try await driver.blocking { () throws -> CInt in
            try FilesystemDriver.makeParent(of: full)
            let fd = open(full, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw StorageError.io("open \(path): \(String(cString: strerror(errno)))") }
            return fd
        }
        return AppendingFile(fd: fd, threadPool: driver.threadPool)
    }

    func finishPart() async throws {
        guard let part else { return }
        self.part = nil
        try await part.close()
    }

    func complete(at destination: String) async throws {
        try await finishPart()
        let (from, to) = (full, try driver.fullPath(destination))
        try await driver.blocking {
            var from = from
            if access(from, F_OK) != 0 {
                // No part was ever written: the object is empty.
                from = try FilesystemDriver.temporarySibling(of: to)
                try FilesystemDriver.writeAll([], to: from)
            }
            try FilesystemDriver.makeParent(of: to)
            try FilesystemDriver.rename(from, to)
        }
        size = 0
    }

    func abort() async throws {
        if let part {
            self.part = nil
            try? await part.close()
        }
        let (full, path) = (self.full, self.path)
        try await driver.blocking {
            guard unlink(full) == 0 || errno == ENOENT else {
                throw StorageError.io("delete \(path): \(String(cString: strerror(errno)))")
            }
        }
        size = 0
    }
}

/// Appends to one open file, batching network buffers into one system call per ~1 MiB.
///
/// A batch is written on the thread pool while the next one is received and hashed: writing
/// into the page cache and hashing cost about the same, so doing them one after the other
/// would leave a core idle during an upload. At most one batch is in flight.
final class AppendingFile: @unchecked Sendable {
    // Only touched by the one task that owns the upload.
    private let file: OpenFile
    private var pending: [ByteBuffer] = []
    private var pendingBytes = 0
    private var inFlight: Task<Void, any Error>?
    private let threadPool: NIOThreadPool

    init(fd: CInt, threadPool: NIOThreadPool) {
        self.file = OpenFile(fd)
        self.threadPool = threadPool
    }

    func write(_ buffer: ByteBuffer) async throws {
        pending.append(buffer)
        pendingBytes += buffer.readableBytes
        if pendingBytes >= FilesystemDriver.chunkSize {
            try await finishInFlight()
            let (file, batch, threadPool) = (self.file, self.pending, self.threadPool)
            pending.removeAll(keepingCapacity: true)
            pendingBytes = 0
            inFlight = Task { try await threadPool.runIfActive { try file.write(batch) } }
        }
    }

    private func finishInFlight() async throws {
        guard let task = inFlight else { return }
        inFlight = nil
        try await task.value
    }

    /// Writes what is pending and waits for it; the descriptor closes when the last batch lets go.
    func close() async throws {
        try await finishInFlight()
        let (file, batch) = (self.file, self.pending)
        pending = []
        if !batch.isEmpty { try await threadPool.runIfActive { try file.write(batch) } }
    }
}

/// A descriptor closed when the last user lets go — the part, or a batch still being written
/// after the part was dropped — so that no write can land on a reused descriptor number.
final class OpenFile: Sendable {
    let fd: CInt

    init(_ fd: CInt) { self.fd = fd }

    deinit { Glibc.close(fd) }

    func write(_ buffers: [ByteBuffer]) throws {
        for buffer in buffers {
            try buffer.withUnsafeReadableBytes { try FilesystemDriver.writeFully(fd, $0) }
        }
    }
}
