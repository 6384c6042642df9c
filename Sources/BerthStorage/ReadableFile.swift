internal import NIOCore
internal import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Sequential chunked reads of one open file, from an offset and up to a length (nil: to the
/// end); closes the descriptor at the end or when dropped.
final class ReadableFile: @unchecked Sendable {
    // Only touched by the one task that iterates the stream.
    private var fd: CInt
    private var offset: Int64
    private var remaining: Int64?
    private let threadPool: NIOThreadPool

    init(fd: CInt, offset: Int64, length: Int64?, threadPool: NIOThreadPool) {
        self.fd = fd
        self.offset = offset
        self.remaining = length
        self.threadPool = threadPool
    }

    deinit { if fd >= 0 { close(fd) } }

    func next() async throws -> ByteBuffer? {
        guard fd >= 0 else { return nil }
        let count = min(FilesystemDriver.chunkSize, Int(clamping: remaining ?? Int64.max))
        guard count > 0 else { return end() }
        let (fd, offset) = (self.fd, self.offset)
        let buffer = try await threadPool.runIfActive { () throws -> ByteBuffer in
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            _ = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
                while true {
                    let n = pread(fd, raw.baseAddress!, count, off_t(offset))
                    if n >= 0 { return n }
                    if errno != EINTR { throw StorageError.io("read: \(String(cString: strerror(errno)))") }
                }
            }
            return buffer
        }
        if buffer.readableBytes == 0 { return end() }
        self.offset += Int64(buffer.readableBytes)
        remaining? -= Int64(buffer.readableBytes)
        return buffer
    }

    private func end() -> ByteBuffer? {
        close(fd)
        fd = -1
        return nil
    }
}
