internal import BerthCache
internal import BerthRegistry
internal import BerthStorage
internal import NIOCore
internal import OCI

/// Following a download that another replica performs (it holds the blob's `FetchLease`):
/// the bytes it stages in shared storage are handed to this process's `BlobFetch` as they
/// appear there, so that clients here stream them without a second upstream request. On S3 they
/// appear a segment (`chunksize`) at a time (`S3SegmentedUpload`).
extension MirrorNamespace {
    static let followInterval: Duration = .milliseconds(100)

    /// Returns true once the blob is stored (or the fetch failed here), false when the holder
    /// gave up without storing it: this process then downloads it itself.
    func followRemote(_ fetch: BlobFetch, key: String, note: String, into cacheName: RepositoryName) async -> Bool {
        var held = note
        var started = false
        var offset: Int64 = 0
        counters.followedReplica()
        while true {
            do {
                if let stored = try await cache.stored(fetch.digest) {
                    try await cache.link(stored, into: cacheName)
                    await used(fetch.digest, .blob, size: stored.size)
                    await fetch.finish(stored)
                    return true
                }
            } catch {
                await fetch.fail(error)
                return true
            }
            let (staging, size) = FetchLease.parse(held)
            if await fetch.staging != staging { await fetch.stage(at: staging) }
            if let size, !started {
                await fetch.start(size: size)
                started = true
            }
            if started, let chunks = try? await cache.readStaged(staging, from: offset) {
                var moved = false
                do {
                    for try await chunk in chunks {
                        offset += Int64(chunk.readableBytes)
                        moved = true
                        await fetch.arrive(chunk)
                    }
                } catch {
                    // Moved into place as the blob meanwhile: found there next time round.
                }
                if moved { continue }
            }
            guard let current = await leases.note(key) else {
                // The holder is done. Stored: served next time round; not: it failed or died.
                if case .some(.some) = try? await cache.stored(fetch.digest) { continue }
                return false
            }
            held = current
            try? await Task.sleep(for: Self.followInterval)
        }
    }
}
