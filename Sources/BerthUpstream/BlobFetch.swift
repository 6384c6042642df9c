internal import BerthRegistry
internal import BerthStorage
internal import NIOCore
internal import OCI

/// One upstream download of a blob, shared by every client that asks for it while it runs.
///
/// The bytes are staged on local storage as they arrive, and the most recent of them are also
/// kept in memory (`windowLimit`), so that clients keeping up with the download get each chunk
/// the moment it arrives, without waiting for storage to have it. A client that falls behind
/// the window (or joins late) reads the staged bytes instead, and once the blob is verified
/// and named, reads on from there: no client waits for the whole blob.
actor BlobFetch {
    enum State: Sendable {
        case connecting
        case streaming(size: Int64)
        case done(BlobInfo)
        case failed(any Error)
    }

    /// What a reader at some offset does next.
    enum Next: Sendable {
        case bytes(ByteBuffer)
        /// Read the staged bytes from storage: this reader fell behind the window.
        case staged(generation: Int)
        /// Read the verified, named blob from storage.
        case stored(BlobInfo)
        case wait(generation: Int)
        case end
        case failed(any Error)
    }

    static let windowLimit = 4 << 20

    let digest: Digest
    /// Where the bytes are staged: this process's own path, or another replica's whose
    /// download this one follows (`RemoteFetch`).
    private(set) var staging: String
    private(set) var state = State.connecting
    /// Counts every change of state or of arrived bytes, so that a reader that has read all
    /// there was can wait for more.
    private var generation = 0
    private var waiters: [(after: Int, continuation: CheckedContinuation<Void, Never>)] = []
    /// The latest chunks and the offset of each; `arrived` is the offset after the last.
    private var window = CircularBuffer<(offset: Int64, chunk: ByteBuffer)>()
    private var windowBytes = 0
    private var arrived: Int64 = 0
    /// Bytes a new source still sends that arrived from an earlier one (`restart`).
    private var skip: Int64 = 0

    init(digest: Digest, staging: String) {
        self.digest = digest
        self.staging = staging
    }

    func start(size: Int64) { change(.streaming(size: size)) }
    func finish(_ blob: BlobInfo) {
        window.removeAll()
        windowBytes = 0
        change(.done(blob))
    }
    func fail(_ error: any Error) {
        window.removeAll()
        windowBytes = 0
        change(.failed(error))
    }

    /// Bytes are read from `staging` from now on.
    func stage(at staging: String) {
        self.staging = staging
        change(nil)
    }

    /// The bytes start again from the first (this process takes over a download another
    /// replica gave up): those that arrived already are not handed out twice.
    func restart() { skip = arrived }

    /// A chunk has been handed to storage, in order.
    func arrive(_ chunk: ByteBuffer) {
        var chunk = chunk
        if skip > 0 {
            let dropped = Int(min(skip, Int64(chunk.readableBytes)))
            chunk.moveReaderIndex(forwardBy: dropped)
            skip -= Int64(dropped)
            if chunk.readableBytes == 0 { return }
        }
        window.append((arrived, chunk))
        arrived += Int64(chunk.readableBytes)
        windowBytes += chunk.readableBytes
        while windowBytes > Self.windowLimit, window.count > 1 {
            windowBytes -= window.removeFirst().chunk.readableBytes
        }
        change(nil)
    }

    private func change(_ new: State?) {
        if let new { state = new }
        generation += 1
        let ready = waiters.filter { $0.after < generation }
        waiters.removeAll { $0.after < generation }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// Returns once something changed after `seen`.
    func wait(after seen: Int) async {
        if generation > seen { return }
        await withCheckedContinuation { waiters.append((seen, $0)) }
    }

    func next(from offset: Int64) -> Next {
        switch state {
        case .failed(let error): return .failed(error)
        case .done(let blob): return offset >= blob.size ? .end : .stored(blob)
        case .connecting: return .wait(generation: generation)
        case .streaming:
            if offset >= arrived { return .wait(generation: generation) }
            guard let first = window.first, offset >= first.offset else { return .staged(generation: generation) }
            // The window holds a few dozen chunks; the newest are the likeliest.
            for index in window.indices.reversed() where window[index].offset <= offset {
                let (start, chunk) = window[index]
                let skip = Int(offset - start)
                return .bytes(chunk.getSlice(at: chunk.readerIndex + skip, length: chunk.readableBytes - skip)!)
            }
            return .staged(generation: generation)
        }
    }

    /// The blob's size, once the upstream has said it.
    func size() async throws -> Int64 {
        while true {
            switch state {
            case .connecting: await wait(after: generation)
            case .streaming(let size): return size
            case .done(let blob): return blob.size
            case .failed(let error): throw error
            }
        }
    }
}

/// A client's read of a fetch in progress, from `offset`: chunks from the fetch's window as
/// they arrive, staged bytes from storage when it fell behind, then the rest from the
/// verified blob. Iterated by the one task that writes the client's response.
final class FetchFollower: @unchecked Sendable {
    private let fetch: BlobFetch
    private let cache: MirrorCache
    private var offset: Int64
    /// A storage reader in use, whether it reads the named blob, and the fetch's generation
    /// when it was opened.
    private var reader: (chunks: ByteChunks.AsyncIterator, final: Bool, generation: Int, read: Bool)?

    init(_ fetch: BlobFetch, cache: MirrorCache, from offset: Int64) {
        self.fetch = fetch
        self.cache = cache
        self.offset = offset
    }

    var chunks: ByteChunks { ByteChunks { try await self.next() } }

    func next() async throws -> ByteBuffer? {
        while true {
            if var open = reader {
                let chunk: ByteBuffer?
                do {
                    chunk = try await open.chunks.next()
                } catch StorageError.notFound where !open.final {
                    // Staged bytes taken away while read (joined into the blob): go on from there.
                    reader = nil
                    continue
                }
                if let chunk {
                    open.read = true
                    reader = open
                    offset += Int64(chunk.readableBytes)
                    return chunk
                }
                reader = nil
                if open.final {
                    guard case .done(let blob) = await fetch.state, offset >= blob.size else {
                        throw StorageError.io("blob \(fetch.digest) ended early")
                    }
                    return nil
                }
                // Staged bytes not yet in storage: wait for more to arrive before looking again.
                if !open.read { await fetch.wait(after: open.generation) }
                continue
            }
            switch await fetch.next(from: offset) {
            case .bytes(let chunk):
                offset += Int64(chunk.readableBytes)
                return chunk
            case .end:
                return nil
            case .failed(let error):
                throw error
            case .wait(let generation):
                await fetch.wait(after: generation)
            case .stored(let blob):
                reader = (try await cache.read(blob, from: offset).makeAsyncIterator(), true, 0, false)
            case .staged(let generation):
                do {
                    reader = (
                        try await cache.readStaged(await fetch.staging, from: offset).makeAsyncIterator(), false,
                        generation,
                        false
                    )
                } catch StorageError.notFound {
                    // Moved into place or discarded since: look again once something changed.
                    await fetch.wait(after: generation)
                }
            }
        }
    }
}
