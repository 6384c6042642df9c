internal import NIOConcurrencyHelpers
internal import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Buffers for sending files by copy (`ThreadedFileSender`), made on first use and then kept.
///
/// Kept, because new memory costs a page fault per 4 KiB at every transfer, and a buffer freed
/// to `malloc` could stay in the arena of whichever of the 64 sender threads used it. With at
/// most `limit` buffers, the copy path holds `limit` MiB at most, for the process's life.
final class CopyBufferPool: Sendable {
    static let bufferSize = 1 << 20
    private let limit: Int
    private let state = NIOLockedValueBox((free: [Buffer](), made: 0))

    /// A buffer's address; only the transfer that took it touches the memory.
    struct Buffer: @unchecked Sendable {
        let address: UnsafeMutableRawPointer
    }

    init(limit: Int) {
        self.limit = limit
    }

    /// A buffer of `bufferSize` bytes, or nil when `limit` are taken.
    func take() -> Buffer? {
        state.withLockedValue { state in
            if let buffer = state.free.popLast() { return buffer }
            guard state.made < limit else { return nil }
            state.made += 1
            return Buffer(
                address: UnsafeMutableRawPointer.allocate(byteCount: Self.bufferSize, alignment: 4096))
        }
    }

    func giveBack(_ buffer: Buffer) {
        state.withLockedValue { $0.free.append(buffer) }
    }
}

/// One transfer's copies: the bytes read from the file and not yet taken by the socket.
struct FileCopier {
    private let buffers: CopyBufferPool
    private var buffer: CopyBufferPool.Buffer?
    private var pending = 0..<0

    init(buffers: CopyBufferPool) {
        self.buffers = buffers
    }

    /// Whether the copier holds a buffer, taking one if it can.
    mutating func ready() -> Bool {
        if buffer == nil { buffer = buffers.take() }
        return buffer != nil
    }

    /// One `write(2)` of the buffered bytes, after reading the next `min(bufferSize, remaining)`
    /// bytes at `position` when none are left. Returns what `write` returned (`errno` is set
    /// when that is -1), or 0 when the file ended early. Call `ready()` first.
    mutating func write(to socket: CInt, from file: CInt, at position: off_t, upTo remaining: Int64) throws -> Int {
        guard let address = buffer?.address else { preconditionFailure("write without a buffer") }
        if pending.isEmpty {
            let count = Int(min(Int64(CopyBufferPool.bufferSize), remaining))
            let read = try Self.read(file, into: address, count: count, at: position)
            if read == 0 { return 0 }
            pending = 0..<read
        }
        let written = Glibc.write(socket, address + pending.lowerBound, pending.count)
        if written > 0 { pending = (pending.lowerBound + written)..<pending.upperBound }
        return written
    }

    /// Gives the buffer back. Bytes read and not sent are forgotten: whatever sends next starts
    /// again from the file.
    mutating func stop() {
        pending = 0..<0
        if let buffer {
            buffers.giveBack(buffer)
            self.buffer = nil
        }
    }

    private static func read(
        _ file: CInt, into buffer: UnsafeMutableRawPointer, count: Int, at position: off_t
    ) throws -> Int {
        while true {
            let read = pread(file, buffer, count, position)
            if read >= 0 { return read }
            if errno != EINTR { throw IOError(errnoCode: errno, reason: "pread") }
        }
    }
}
