public import AsyncHTTPClient
public import BerthConfig
public import BerthRegistry
internal import Foundation
public import Logging
internal import NIOCore
internal import NIOHTTP1
public import OCI

/// The repositories of one upstream registry, pulled through and cached in local storage.
///
/// Manifests by digest are served from the cache once fetched and never checked again. By
/// tag, the upstream is asked with `HEAD` (which Docker Hub does not count as a pull) and the
/// manifest fetched only when its digest is not cached; when the upstream is unreachable,
/// slow, or answers 5xx or 429, the cached tag is served. Bytes are kept exactly as upstream
/// sent them, so digests never change. Blobs come from the cache, or from one shared
/// download per digest that clients read while it arrives.
public struct MirrorNamespace: RoutedNamespace {
    let route: UpstreamRoute
    let client: UpstreamClient
    let cache: MirrorCache
    let fetches = BlobFetches()
    let tagChecks = TagChecks()
    let manifestFetches = SharedFetches<StoredManifest>()
    let logger: Logger

    public init(
        upstream: Configuration.Upstream, local: [String], allPrefixes: Set<String>, cache: MirrorCache,
        http: HTTPClient, logger: Logger
    ) {
        route = UpstreamRoute(upstream: upstream, local: local.map(RepositoryPattern.init), allPrefixes: allPrefixes)
        client = UpstreamClient(upstream: upstream, http: http, logger: logger)
        self.cache = cache
        self.logger = logger
    }

    var upstream: Configuration.Upstream { route.upstream }

    public var readOnlyReason: String? {
        "it is mirrored from upstream \(upstream.name) (\(upstream.url)); push to a name outside the mirror"
    }

    public func claims(_ name: RepositoryName, ns: String?) -> Bool {
        route.upstreamName(name, ns: ns) != nil
    }

    /// The repository's name upstream and in the cache; refuses names the patterns do not
    /// allow before anything is sent upstream.
    func resolve(_ name: RepositoryName) throws -> (upstream: String, cache: RepositoryName) {
        // The router asked `claims` with the request's ns; the name alone decides again here,
        // except for ns routes, whose names are already the upstream's.
        let upstreamName =
            route.upstreamName(name, ns: nil) ?? route.upstreamName(name, ns: upstream.host) ?? name.value
        guard route.permits(upstreamName) else {
            throw RegistryError(
                .denied,
                "\(upstreamName) may not be pulled through upstream \(upstream.name) (mirror.upstreams.\(upstream.name).allow/deny)",
                detail: ["name": name.value])
        }
        return (upstreamName, try route.cacheName(upstreamName))
    }

    static func scope(_ upstreamName: String) -> String { "repository:\(upstreamName):pull" }

    var shortDeadline: NIODeadline { .now() + .nanoseconds(Int64(upstream.timeout / .nanoseconds(1))) }

    // MARK: manifests

    static let accept = [
        MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList,
    ].joined(separator: ", ")

    public func manifest(_ name: RepositoryName, _ reference: Reference) async throws -> StoredManifest {
        let (path, cacheName) = try resolve(name)
        switch reference {
        case .digest(let digest):
            if let cached = try await cache.manifest(cacheName, reference) { return cached }
            return try await fetchManifest(path, cacheName, digest.description, expected: digest, tag: nil)
        case .tag(let tag):
            let cached = try await cache.manifest(cacheName, reference)
            if let cached, await tagChecks.isFresh(cacheName, tag, within: upstream.freshness) { return cached }
            do {
                let head = try await client.send(
                    .HEAD, "/v2/\(path)/manifests/\(tag.value)", scope: Self.scope(path),
                    headers: ["Accept": Self.accept], deadline: shortDeadline)
                try await Self.expect(head, .manifestUnknown, ["Tag": tag.value], upstream: upstream)
                await tagChecks.checked(cacheName, tag)
                let announced = head.headers.first(name: "docker-content-digest").flatMap { try? Digest(parsing: $0) }
                if let announced, let known = try await cache.manifest(cacheName, .digest(announced)) {
                    if cached?.digest != announced {
                        return try await cache.store(manifest: known.bytes, as: announced, in: cacheName, tag: tag)
                    }
                    return known
                }
                return try await fetchManifest(path, cacheName, tag.value, expected: announced, tag: tag)
            } catch let error where Self.servesCache(error) {
                guard let cached else { throw Self.unavailable(error, upstream) }
                logger.warning(
                    "upstream unavailable; serving cached tag",
                    metadata: [
                        "upstream": "\(upstream.name)", "repository": "\(cacheName)", "tag": "\(tag)",
                        "error": "\(error)",
                    ])
                return cached
            }
        }
    }

    /// One upstream `GET` of a manifest however many clients ask for it at once.
    private func fetchManifest(
        _ path: String, _ cacheName: RepositoryName, _ reference: String, expected: Digest?, tag: Tag?
    ) async throws -> StoredManifest {
        try await manifestFetches.value(for: "\(cacheName)@\(reference)") {
            try await getManifest(path, cacheName, reference, expected: expected, tag: tag)
        }
    }

    private func getManifest(
        _ path: String, _ cacheName: RepositoryName, _ reference: String, expected: Digest?, tag: Tag?
    ) async throws -> StoredManifest {
        let response: HTTPClientResponse
        do {
            response = try await client.send(
                .GET, "/v2/\(path)/manifests/\(reference)", scope: Self.scope(path),
                headers: ["Accept": Self.accept], deadline: shortDeadline)
        } catch {
            throw Self.unavailable(error, upstream)
        }
        try await Self.expect(response, .manifestUnknown, ["reference": reference], upstream: upstream)
        guard let body = try? await response.body.collect(upTo: Manifest.maximumSize) else {
            throw RegistryError(
                .sizeInvalid, "upstream \(upstream.name) sent a manifest over \(Manifest.maximumSize) bytes",
                condition: .upstreamFailed)
        }
        let bytes = Array(buffer: body)
        let header = response.headers.first(name: "docker-content-digest").flatMap { try? Digest(parsing: $0) }
        let digest = expected ?? header ?? Digest.of(bytes)
        guard Digest.of(bytes, algorithm: digest.algorithm) == digest, header == nil || header == digest else {
            throw RegistryError(
                .digestInvalid, "upstream \(upstream.name) sent manifest bytes that do not hash to \(digest)",
                condition: .upstreamFailed)
        }
        return try await cache.store(manifest: bytes, as: digest, in: cacheName, tag: tag)
    }

    // MARK: blobs

    public func blob(_ name: RepositoryName, _ digest: Digest, download: Bool) async throws -> BlobInfo {
        let (path, cacheName) = try resolve(name)
        if let cached = try await cache.blob(cacheName, digest) { return cached }
        if let stored = try await cache.stored(digest) {
            // Stored for another repository: served once upstream says this one has it too, so
            // that a digest alone never hands out content the upstream would not.
            let size = try await headSize(path, digest)
            guard size == stored.size else {
                throw RegistryError(
                    .unavailable, "upstream \(upstream.name) gives \(digest) another size", condition: .upstreamFailed)
            }
            try await cache.link(stored, into: cacheName)
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
        _ name: RepositoryName, _ blob: BlobInfo, from offset: Int64, download: Bool
    ) async throws
        -> BlobContent
    {
        let (path, cacheName) = try resolve(name)
        if let cached = try await cache.blob(cacheName, blob.digest) {
            return try await cache.content(cached, from: offset)
        }
        let fetch = await startFetch(path, cacheName, blob.digest)
        return .stream(FetchFollower(fetch, cache: cache, from: offset).chunks)
    }

    private func startFetch(_ path: String, _ cacheName: RepositoryName, _ digest: Digest) async -> BlobFetch {
        await fetches.join(digest, staging: { cache.newStagingPath() }) { fetch in
            await download(fetch, path, cacheName)
        }
    }

    /// The one download of a blob: staged while hashed, verified, then named.
    private func download(_ fetch: BlobFetch, _ path: String, _ cacheName: RepositoryName) async {
        let digest = fetch.digest
        let staging = fetch.staging
        do {
            // A download that finished just before this one was started has stored the blob.
            if let cached = try await cache.blob(cacheName, digest) {
                await fetch.finish(cached)
                return
            }
            let response: HTTPClientResponse
            do {
                // Blobs may take long; the client's read timeout still ends a stalled one.
                response = try await client.send(
                    .GET, "/v2/\(path)/blobs/\(digest)", scope: Self.scope(path), deadline: .now() + .hours(12))
            } catch {
                throw Self.unavailable(error, upstream)
            }
            try await Self.expect(response, .blobUnknown, ["digest": digest.description], upstream: upstream)
            let announced = response.headers.first(name: "content-length").flatMap(Int64.init)
            guard let size = announced else {
                throw RegistryError(
                    .unavailable, "upstream \(upstream.name) gave no size for \(digest)", condition: .upstreamFailed)
            }
            await fetch.start(size: size)
            var hasher: DigestHasher? = DigestHasher(digest.algorithm)
            let staged = try await cache.stage(response.body, to: staging, hasher: &hasher) { await fetch.advance() }
            guard staged == size else {
                throw RegistryError(
                    .unavailable, "upstream \(upstream.name) sent \(staged) of \(size) bytes of \(digest)",
                    condition: .upstreamFailed)
            }
            let blob: BlobInfo
            do {
                blob = try await cache.commit(staging, size: size, hasher: hasher, as: digest, into: cacheName)
            } catch let error as RegistryError where error.code == .digestInvalid {
                throw RegistryError(
                    .unavailable, "upstream \(upstream.name) sent bytes that do not hash to \(digest); not cached",
                    condition: .upstreamFailed)
            }
            await fetch.finish(blob)
            logger.info(
                "blob fetched from upstream",
                metadata: [
                    "upstream": "\(upstream.name)", "repository": "\(cacheName)", "digest": "\(digest)",
                    "size": "\(size)",
                ])
        } catch {
            await cache.discard(staging)
            logger.warning(
                "blob fetch failed",
                metadata: ["upstream": "\(upstream.name)", "digest": "\(digest)", "error": "\(error)"])
            await fetch.fail(error)
        }
    }

    // MARK: lists

    public func tags(_ name: RepositoryName, after last: String?, limit: Int?) async throws -> [String] {
        let (path, cacheName) = try resolve(name)
        do {
            let response = try await client.send(
                .GET, "/v2/\(path)/tags/list", scope: Self.scope(path), deadline: shortDeadline)
            try await Self.expect(response, .nameUnknown, ["name": name.value], upstream: upstream)
            struct TagList: Decodable { var tags: [String]? }
            let body = try await response.body.collect(upTo: 16 << 20)
            guard let list = try? JSONDecoder().decode(TagList.self, from: Data(body.readableBytesView)) else {
                throw RegistryError(
                    .unavailable, "upstream \(upstream.name) sent a tag list that is not JSON",
                    condition: .upstreamFailed)
            }
            var tags = (list.tags ?? []).sorted()
            if let last { tags.removeAll { $0 <= last } }
            if let limit, tags.count > limit { tags.removeLast(tags.count - limit) }
            return tags
        } catch let error where Self.servesCache(error) {
            do {
                return try await cache.tags(cacheName, after: last, limit: limit)
            } catch {
                throw Self.unavailable(error, upstream)
            }
        }
    }

    /// Referrers of mirrored manifests are those the cache holds; upstream is not asked yet.
    public func referrers(
        _ name: RepositoryName, of digest: Digest, artifactType: String?
    ) async throws
        -> [Descriptor]
    {
        let (_, cacheName) = try resolve(name)
        return try await cache.referrers(cacheName, of: digest, artifactType: artifactType)
    }
}
