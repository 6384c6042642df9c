internal import BerthRegistry
internal import BerthStorage
internal import NIOCore
internal import OCI

/// One upstream download of a blob, shared by every client that asks for it while it runs.
/// The download is staged on local storage as it arrives; each client follows the staged bytes
/// from its own offset as they are written (no client waits for the whole blob), and once the
/// blob is verified and moved into place, reads on from there.
actor BlobFetch {
    enum State: Sendable {
        case connecting
        case streaming(size: Int64)
        case done(BlobInfo)
        case failed(any Error)
    }

    let digest: Digest
    let staging: String
    private(set) var state = State.connecting
    /// Counts every change of state or of staged bytes, so that a follower that read all
    /// there was can wait for more.
    private var generation = 0
    private var waiters: [(after: Int, continuation: CheckedContinuation<Void, Never>)] = []

    init(digest: Digest, staging: String) {
        self.digest = digest
        self.staging = staging
    }

    func snapshot() -> (State, Int) { (state, generation) }

    func start(size: Int64) { change(.streaming(size: size)) }
    func advance() { change(nil) }
    func finish(_ blob: BlobInfo) { change(.done(blob)) }
    func fail(_ error: any Error) { change(.failed(error)) }

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

    /// The blob's size, once the upstream has said it.
    func size() async throws -> Int64 {
        while true {
            let (state, seen) = snapshot()
            switch state {
            case .connecting: await wait(after: seen)
            case .streaming(let size): return size
            case .done(let blob): return blob.size
            case .failed(let error): throw error
            }
        }
    }
}

/// A client's read of a fetch in progress, from `offset`: what is staged now, then more as
/// it arrives, then the rest from the verified blob. Iterated by the one task that writes
/// the client's response.
final class FetchFollower: @unchecked Sendable {
    private let fetch: BlobFetch
    private let cache: MirrorCache
    private var offset: Int64
    private var reader: ByteChunks.AsyncIterator?
    /// State and generation seen when the current reader was opened.
    private var opened: (BlobFetch.State, Int) = (.connecting, 0)

    init(_ fetch: BlobFetch, cache: MirrorCache, from offset: Int64) {
        self.fetch = fetch
        self.cache = cache
        self.offset = offset
    }

    var chunks: ByteChunks { ByteChunks { try await self.next() } }

    func next() async throws -> ByteBuffer? {
        while true {
            if reader == nil {
                opened = await fetch.snapshot()
                let path: String
                switch opened.0 {
                case .failed(let error): throw error
                case .done(let blob):
                    if offset >= blob.size { return nil }
                    path = cache.path(of: blob)
                case .connecting:
                    await fetch.wait(after: opened.1)
                    continue
                case .streaming:
                    path = fetch.staging
                }
                do {
                    reader = try await cache.read(path, from: offset).makeAsyncIterator()
                } catch StorageError.notFound {
                    // Moved into place or discarded since the snapshot: look again.
                    await fetch.wait(after: opened.1)
                    continue
                }
            }
            if let chunk = try await reader!.next() {
                offset += Int64(chunk.readableBytes)
                return chunk
            }
            reader = nil
            if case .done(let blob) = opened.0 {
                // Everything was in place when this reader opened, and it ended short.
                guard offset >= blob.size else { throw StorageError.io("blob \(blob.digest) ended early") }
                return nil
            }
            await fetch.wait(after: opened.1)
        }
    }
}
