internal import NIOCore
internal import NIOHTTP1
internal import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Writes one response to a channel. Bodies stream: a chunk is produced only after the previous
/// one has been handed to the socket, so a slow client slows the producer, and memory per
/// response stays at about two chunks.
struct ResponseWriter {
    let channel: any Channel
    let isTLS: Bool
    let isHEAD: Bool
    /// A client that takes nothing of a response for this long is given up on.
    let idleTimeout: TimeAmount

    /// sendfile regions are sent in pieces of this size, so write progress is visible to the
    /// idle timeout and a stalled client is noticed.
    static let fileRegionPiece: Int64 = 16 << 20
    static let readChunk = 1 << 20

    /// Writes head, body and end; returns the number of body bytes sent.
    func write(head: HTTPResponseHead, body: HTTPResponse.Body) async throws -> Int64 {
        if isHEAD {
            try await writeParts([.head(head), .end(nil)])
            return 0
        }
        switch body {
        case .empty:
            try await writeParts([.head(head), .end(nil)])
            return 0
        case .bytes(let buffer):
            try await writeParts([.head(head), .body(.byteBuffer(buffer)), .end(nil)])
            return Int64(buffer.readableBytes)
        case .file(let path, let offset, let length):
            // Open before the head goes out, so a vanished file fails the request, not the stream.
            let handle = try await open(path)
            defer { try? handle.close() }
            let sender = ThreadedFileSender.shared
            if !isTLS && length >= ThreadedFileSender.minimumLength && sender.reserve() {
                defer { sender.release() }
                try await writeFromThread(handle, head: head, offset: offset, length: length, sender: sender)
                return length
            }
            channel.write(HTTPServerResponsePart.head(head), promise: nil)
            let sent = try await writeFile(handle, offset: offset, length: length)
            try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
            return sent
        case .stream(_, let next):
            channel.write(HTTPServerResponsePart.head(head), promise: nil)
            let sent = try await writeStream(next)
            try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
            return sent
        }
    }

    /// Several parts in one hop to the event loop (small responses are the hot path).
    private func writeParts(_ parts: [HTTPServerResponsePart]) async throws {
        let channel = self.channel
        try await channel.eventLoop.flatSubmit {
            for part in parts.dropLast() { channel.write(part, promise: nil) }
            return channel.writeAndFlush(parts.last!)
        }.get()
    }

    private func writeStream(_ next: @Sendable () async throws -> [ByteBuffer]?) async throws -> Int64 {
        var sent: Int64 = 0
        var pending: EventLoopFuture<Void>?
        let channel = self.channel
        while let batch = try await next() {
            guard !batch.isEmpty else { continue }
            // Produce the next batch while this one is written, but never run further ahead.
            if let pending { try await pending.get() }
            sent += batch.reduce(0) { $0 + Int64($1.readableBytes) }
            pending = channel.eventLoop.flatSubmit {
                for chunk in batch.dropLast() {
                    channel.write(HTTPServerResponsePart.body(.byteBuffer(chunk)), promise: nil)
                }
                return channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(batch.last!)))
            }
        }
        if let pending { try await pending.get() }
        return sent
    }

    /// The head and end go through the pipeline, the body straight from a sender thread to a
    /// duplicate of the socket (see `ThreadedFileSender` for why).
    private func writeFromThread(
        _ file: NIOFileHandle, head: HTTPResponseHead, offset: Int64, length: Int64, sender: ThreadedFileSender
    ) async throws {
        let channel = self.channel
        let (socket, headWritten) = try await channel.eventLoop.submit {
            let socket = try DuplicatedSocket(of: channel)
            channel.triggerUserOutboundEvent(BodySentOutsidePipeline.started(socket), promise: nil)
            return (socket, channel.writeAndFlush(HTTPServerResponsePart.head(head)))
        }.get()
        defer { socket.close() }
        // The whole head must be on the socket before the first byte of the body.
        try await headWritten.get()
        try await sender.send(file: file, offset: offset, length: length, to: socket, idleTimeout: idleTimeout)
        try await channel.eventLoop.flatSubmit {
            channel.triggerUserOutboundEvent(BodySentOutsidePipeline.finished, promise: nil)
            return channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        }.get()
    }

    private func open(_ path: String) async throws -> NIOFileHandle {
        let fd = try await NIOThreadPool.singleton.runIfActive { () throws -> CInt in
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "open \(path)") }
            return fd
        }
        return NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
    }

    private func writeFile(_ handle: NIOFileHandle, offset: Int64, length: Int64) async throws -> Int64 {
        if !isTLS {
            // Plain TCP: the kernel copies page cache to socket (sendfile); we only wait for it.
            var position = offset
            let end = offset + length
            while position < end {
                let pieceEnd = min(position + Self.fileRegionPiece, end)
                let region = FileRegion(fileHandle: handle, readerIndex: Int(position), endIndex: Int(pieceEnd))
                try await channel.writeAndFlush(HTTPServerResponsePart.body(.fileRegion(region))).get()
                position = pieceEnd
            }
            return length
        }
        // TLS must encrypt in user space: read chunks and stream them.
        let io = NonBlockingFileIO(threadPool: .singleton)
        let allocator = channel.allocator
        let reader = FileChunkReader(io: io, handle: handle, offset: offset, end: offset + length, allocator: allocator)
        return try await writeStream { try await reader.next().map { [$0] } }
    }
}

/// Reads consecutive chunks of a file region (used where sendfile cannot be).
private final class FileChunkReader: @unchecked Sendable {
    // Only used by the one task writing the response.
    private let io: NonBlockingFileIO
    private let handle: NIOFileHandle
    private var offset: Int64
    private let end: Int64
    private let allocator: ByteBufferAllocator

    init(io: NonBlockingFileIO, handle: NIOFileHandle, offset: Int64, end: Int64, allocator: ByteBufferAllocator) {
        self.io = io
        self.handle = handle
        self.offset = offset
        self.end = end
        self.allocator = allocator
    }

    func next() async throws -> ByteBuffer? {
        guard offset < end else { return nil }
        let count = Int(min(Int64(ResponseWriter.readChunk), end - offset))
        let buffer = try await io.read(fileHandle: handle, fromOffset: offset, byteCount: count, allocator: allocator)
        guard buffer.readableBytes > 0 else { throw IOError(errnoCode: EIO, reason: "file shorter than expected") }
        offset += Int64(buffer.readableBytes)
        return buffer
    }
}
