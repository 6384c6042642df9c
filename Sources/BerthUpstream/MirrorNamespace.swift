public import AsyncHTTPClient
public import BerthCache
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
/// download per digest that clients read while it arrives (MirrorNamespace+Blobs). Every
/// use is recorded in storage for expiry (`MirrorUsage`, `MirrorExpiry`).
public struct MirrorNamespace: RoutedNamespace {
    let route: UpstreamRoute
    let client: UpstreamClient
    let cache: MirrorCache
    let fetches = BlobFetches()
    /// Which replica downloads a blob that several want (shared through Redis, or this
    /// process's own).
    let leases: any FetchLeases
    let tagChecks = TagChecks()
    let manifestFetches = SharedFetches<StoredManifest>()
    /// Told when a capped cache grew, so that expiry need not wait for its interval.
    let sweep: SweepSignal?
    let logger: Logger

    public init(
        upstream: Configuration.Upstream, local: [String], allPrefixes: Set<String>, cache: MirrorCache,
        http: HTTPClient, leases: any FetchLeases = LocalFetchLeases(), sweep: SweepSignal? = nil, logger: Logger
    ) {
        self.leases = leases
        route = UpstreamRoute(upstream: upstream, local: local.map(RepositoryPattern.init), allPrefixes: allPrefixes)
        client = UpstreamClient(upstream: upstream, http: http, counters: UpstreamCounters(), logger: logger)
        self.cache = cache
        self.sweep = sweep
        self.logger = logger
    }

    public var upstream: Configuration.Upstream { route.upstream }
    public var counters: UpstreamCounters { client.counters }

    /// Records a use of cached content for expiry. Ages need not be exact: a use is written
    /// at most every quarter of the TTL, and at most every minute.
    func used(_ digest: Digest, _ kind: MirrorUsage.Record.Kind, size: Int64) async {
        let ttl = MirrorExpiry.seconds(upstream.ttl)
        let resolution = ttl > 0 ? min(ttl / 4, 60) : 60
        do {
            try await cache.usage.touch(upstream.name, digest, kind, size: size, resolution: resolution)
        } catch {
            logger.warning(
                "cannot record the use of mirrored content",
                metadata: ["upstream": "\(upstream.name)", "digest": "\(digest)", "error": "\(error)"])
        }
    }

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
        let manifest = try await lookUp(path, cacheName, reference)
        await used(manifest.digest, .manifest, size: Int64(manifest.bytes.count))
        return manifest
    }

    private func lookUp(
        _ path: String, _ cacheName: RepositoryName, _ reference: Reference
    ) async throws
        -> StoredManifest
    {
        switch reference {
        case .digest(let digest):
            if let cached = try await cache.manifest(cacheName, reference) {
                counters.hit()
                return cached
            }
            return try await fetchManifest(path, cacheName, digest.description, expected: digest, tag: nil)
        case .tag(let tag):
            let cached = try await cache.manifest(cacheName, reference)
            if let cached, await tagChecks.isFresh(cacheName, tag, within: upstream.freshness) {
                counters.hit()
                return cached
            }
            do {
                let head = try await client.send(
                    .HEAD, "/v2/\(path)/manifests/\(tag.value)", scope: Self.scope(path),
                    headers: ["Accept": Self.accept], deadline: shortDeadline)
                try await Self.expect(head, .manifestUnknown, ["Tag": tag.value], upstream: upstream)
                await tagChecks.checked(cacheName, tag)
                let announced = head.headers.first(name: "docker-content-digest").flatMap { try? Digest(parsing: $0) }
                if let announced, let known = try await cache.manifest(cacheName, .digest(announced)) {
                    counters.hit()
                    if cached?.digest != announced {
                        return try await cache.store(manifest: known.bytes, as: announced, in: cacheName, tag: tag)
                    }
                    return known
                }
                return try await fetchManifest(path, cacheName, tag.value, expected: announced, tag: tag)
            } catch let error where Self.servesCache(error) {
                guard let cached else { throw Self.unavailable(error, upstream) }
                counters.staleServe()
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
        try await manifestFetches.value(for: "\(cacheName)@\(reference)", joined: counters.coalesced) {
            counters.miss()
            return try await getManifest(path, cacheName, reference, expected: expected, tag: tag)
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
        counters.fromUpstream(bytes.count)
        let header = response.headers.first(name: "docker-content-digest").flatMap { try? Digest(parsing: $0) }
        let digest = expected ?? header ?? Digest.of(bytes)
        guard Digest.of(bytes, algorithm: digest.algorithm) == digest, header == nil || header == digest else {
            throw RegistryError(
                .digestInvalid, "upstream \(upstream.name) sent manifest bytes that do not hash to \(digest)",
                condition: .upstreamFailed)
        }
        return try await cache.store(manifest: bytes, as: digest, in: cacheName, tag: tag)
    }
}
