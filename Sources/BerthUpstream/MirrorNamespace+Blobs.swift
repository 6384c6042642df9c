internal import AsyncHTTPClient
internal import BerthCache
internal import BerthConfig
public import BerthRegistry
internal import Logging
internal import NIOCore
internal import NIOHTTP1
public import OCI

/// Mirrored blobs: from the cache, or from one download per digest that every client asking
/// for it follows while it arrives. A download that breaks off goes on with `Range` from where
/// it stopped; the whole blob is verified before it is named either way.
extension MirrorNamespace {
    /// How many times one download goes on after the upstream connection dropped.
    static let resumes = 3

    public func blob(_ name: RepositoryName, _ digest: Digest, download: Bool) async throws -> BlobInfo {
        let (path, cacheName) = try resolve(name)
        if let cached = try await cache.blob(cacheName, digest) {
            counters.hit()
            await used(digest, .blob, size: cached.size)
            return cached
        }
        if let stored = try await cache.stored(digest) {
            // Stored for another repository: served once upstream says this one has it too, so
            // that a digest alone never hands out content the upstream would not.
            let size = try await headSize(path, digest)
            guard size == stored.size else {
                throw RegistryError(
                    .unavailable, "upstream \(upstream.name) gives \(digest) another size", condition: .upstreamFailed)
            }
            try await cache.link(stored, into: cacheName)
            counters.hit()
            await used(digest, .blob, size: stored.size)
            return stored
        }
        if download {
            return cache.expectedBlob(digest, size: try await startFetch(path, cacheName, digest).size())
        }
        if let running = await fetches.current(digest) {
            return cache.expectedBlob(digest, size: try await running.size())
        }
        return cache.expectedBlob(digest, size: try await headSize(path, digest))
    }

    /// The blob's size as upstream answers a `HEAD` (nothing is downloaded for it).
    private func headSize(_ path: String, _ digest: Digest) async throws -> Int64 {
        let head: HTTPClientResponse
        do {
            head = try await client.send(
                .HEAD, "/v2/\(path)/blobs/\(digest)", scope: Self.scope(path), deadline: shortDeadline)
        } catch {
            throw Self.unavailable(error, upstream)
        }
        try await Self.expect(head, .blobUnknown, ["digest": digest.description], upstream: upstream)
        guard let size = head.headers.first(name: "content-length").flatMap(Int64.init) else {
            throw RegistryError(
                .unavailable, "upstream \(upstream.name) gave no size for \(digest)", condition: .upstreamFailed)
        }
        return size
    }

    public func content(
        _ name: RepositoryName, _ blob: BlobInfo, from offset: Int64, length: Int64, download: Bool
    ) async throws
        -> BlobContent
    {
        let (path, cacheName) = try resolve(name)
        counters.toClients(max(0, length))
        // A cold GET has just started the download: follow it without asking storage first
        // (the first byte waits on nothing else).
        if let running = await fetches.current(blob.digest) {
            return .stream(FetchFollower(running, cache: cache, from: offset).chunks)
        }
        if let cached = try await cache.blob(cacheName, blob.digest) {
            return try await cache.content(cached, from: offset, length: length)
        }
        let fetch = await startFetch(path, cacheName, blob.digest)
        return .stream(FetchFollower(fetch, cache: cache, from: offset).chunks)
    }

    private func startFetch(_ path: String, _ cacheName: RepositoryName, _ digest: Digest) async -> BlobFetch {
        let (fetch, joined) = await fetches.join(digest, staging: { cache.newStagingPath() }) { fetch in
            await download(fetch, path, cacheName)
        }
        if joined { counters.coalesced() } else { counters.miss() }
        return fetch
    }

    /// The one download of a blob among all replicas: the process that takes the blob's lease
    /// downloads it, the others follow it in shared storage (`followRemote`) and take over
    /// when it gives up.
    private func download(_ fetch: BlobFetch, _ path: String, _ cacheName: RepositoryName) async {
        let key = FetchLease.key(fetch.digest)
        let staging = await fetch.staging
        while true {
            // A download that finished just before this one was started has stored the blob.
            do {
                if let cached = try await cache.blob(cacheName, fetch.digest) {
                    await fetch.finish(cached)
                    return
                }
            } catch {
                await fetch.fail(error)
                return
            }
            guard let held = await leases.acquire(key, note: staging, lifetime: FetchLease.lifetime) else { break }
            if await followRemote(fetch, key: key, note: held, into: cacheName) { return }
            await fetch.stage(at: staging)
            await fetch.restart()
        }
        let lease = FetchLease(leases, key: key, staging: staging)
        let renewing = Task { await lease.keepRenewing() }
        await download(fetch, path, cacheName, lease: lease)
        renewing.cancel()
        await lease.release()
    }

    /// The download itself: staged while hashed, resumed when dropped, verified, then named.
    private func download(
        _ fetch: BlobFetch, _ path: String, _ cacheName: RepositoryName, lease: FetchLease
    ) async {
        let digest = fetch.digest
        let staging = lease.staging
        do {
            var response = try await get(path, digest, from: 0)
            guard let size = response.headers.first(name: "content-length").flatMap(Int64.init) else {
                throw RegistryError(
                    .unavailable, "upstream \(upstream.name) gave no size for \(digest)", condition: .upstreamFailed)
            }
            await fetch.start(size: size)
            await lease.announce(size: size)
            var hasher: DigestHasher? = DigestHasher(digest.algorithm)
            var resumed = 0
            while true {
                var dropped: (any Error)?
                let staged: Int64
                do {
                    staged = try await cache.stage(response.body, to: staging, hasher: &hasher) { chunk in
                        counters.fromUpstream(chunk.readableBytes)
                        await fetch.arrive(chunk)
                    }
                } catch {
                    dropped = error
                    staged = try await cache.stagedSize(staging)
                }
                if staged == size && dropped == nil { break }
                // Go on from where it stopped, while the hash still covers what is staged.
                guard staged < size, hasher != nil, resumed < Self.resumes else {
                    if let dropped { throw Self.unavailable(dropped, upstream) }
                    throw RegistryError(
                        .unavailable, "upstream \(upstream.name) sent \(staged) bytes of \(digest), not \(size)",
                        condition: .upstreamFailed)
                }
                resumed += 1
                logger.info(
                    "upstream download broke off; resuming",
                    metadata: [
                        "upstream": "\(upstream.name)", "digest": "\(digest)", "offset": "\(staged)",
                        "error": "\(dropped.map { "\($0)" } ?? "short body")",
                    ])
                response = try await get(path, digest, from: staged, of: size)
            }
            let blob: BlobInfo
            do {
                blob = try await cache.commit(staging, size: size, hasher: hasher, as: digest, into: cacheName)
            } catch let error as RegistryError where error.code == .digestInvalid {
                throw RegistryError(
                    .unavailable, "upstream \(upstream.name) sent bytes that do not hash to \(digest); not cached",
                    condition: .upstreamFailed)
            }
            await used(digest, .blob, size: size)
            await fetch.finish(blob)
            if upstream.maxSize != nil { sweep?.request() }
            logger.info(
                "blob fetched from upstream",
                metadata: [
                    "upstream": "\(upstream.name)", "repository": "\(cacheName)", "digest": "\(digest)",
                    "size": "\(size)", "resumed": "\(resumed)",
                ])
        } catch {
            await cache.discard(staging)
            logger.warning(
                "blob fetch failed",
                metadata: ["upstream": "\(upstream.name)", "digest": "\(digest)", "error": "\(error)"])
            await fetch.fail(error)
        }
    }

    /// `GET` of a blob, from `offset` on (a `Range` request answered `206` from exactly there).
    private func get(
        _ path: String, _ digest: Digest, from offset: Int64, of size: Int64? = nil
    ) async throws
        -> HTTPClientResponse
    {
        let response: HTTPClientResponse
        do {
            // Blobs may take long; the client's read timeout still ends a stalled one.
            response = try await client.send(
                .GET, "/v2/\(path)/blobs/\(digest)", scope: Self.scope(path),
                headers: offset > 0 ? ["Range": "bytes=\(offset)-"] : [:], deadline: .now() + .hours(12))
        } catch {
            throw Self.unavailable(error, upstream)
        }
        guard offset > 0 else {
            try await Self.expect(response, .blobUnknown, ["digest": digest.description], upstream: upstream)
            return response
        }
        let range = response.headers.first(name: "content-range") ?? ""
        guard response.status == .partialContent, let size, range.hasPrefix("bytes \(offset)-\(size - 1)/") else {
            _ = try? await response.body.collect(upTo: 64 * 1024)
            throw RegistryError(
                .unavailable,
                "upstream \(upstream.name) cannot go on with \(digest) from byte \(offset) (answered \(response.status.code) \(range))",
                condition: .upstreamFailed)
        }
        return response
    }
}
