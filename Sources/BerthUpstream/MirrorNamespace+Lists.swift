internal import AsyncHTTPClient
internal import BerthConfig
internal import BerthRegistry
internal import Foundation
internal import Logging
internal import NIOCore
internal import NIOHTTP1
public import OCI

/// Lists of a mirrored repository: its tags and a manifest's referrers, from upstream, or from
/// the cache while the upstream fails.
extension MirrorNamespace {
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

    /// Referrers from upstream's referrers API or, for an upstream without it (registry:2),
    /// from the `sha256-<hex>` tag that the OCI spec's fallback keeps them under. The answer is
    /// cached, and served from there while the upstream fails.
    public func referrers(
        _ name: RepositoryName, of digest: Digest, artifactType: String?
    ) async throws
        -> [Descriptor]
    {
        let (path, cacheName) = try resolve(name)
        let all: [Descriptor]
        var fromUpstream = false
        do {
            all = try await upstreamReferrers(path, digest)
            fromUpstream = true
        } catch let error where Self.servesCache(error) {
            guard let cached = try await cache.referrers(cacheName, of: digest) else {
                throw Self.unavailable(error, upstream)
            }
            counters.staleServe()
            all = cached
        }
        if fromUpstream { try await cache.store(referrers: all, of: digest, in: cacheName) }
        guard let artifactType else { return all }
        return all.filter { $0.artifactType == artifactType }
    }

    private func upstreamReferrers(_ path: String, _ digest: Digest) async throws -> [Descriptor] {
        if let listed = try await index(path, "/v2/\(path)/referrers/\(digest)") { return listed }
        let fallbackTag = "\(digest.algorithm.rawValue)-\(digest.hex)"
        return try await index(path, "/v2/\(path)/manifests/\(fallbackTag)") ?? []
    }

    /// The `manifests` of the image index at `target`, or nil when upstream has none there.
    private func index(_ path: String, _ target: String) async throws -> [Descriptor]? {
        let response: HTTPClientResponse
        do {
            response = try await client.send(
                .GET, target, scope: Self.scope(path), headers: ["Accept": MediaType.ociIndex],
                deadline: shortDeadline)
        } catch {
            throw Self.unavailable(error, upstream)
        }
        if response.status == .notFound {
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return nil
        }
        try await Self.expect(response, .manifestUnknown, [:], upstream: upstream)
        struct Index: Decodable { var manifests: [Descriptor]? }
        let body = try await response.body.collect(upTo: Manifest.maximumSize)
        counters.fromUpstream(body.readableBytes)
        guard let index = try? JSONDecoder().decode(Index.self, from: Data(body.readableBytesView)) else {
            throw RegistryError(
                .unavailable, "upstream \(upstream.name) sent referrers that are not an image index",
                condition: .upstreamFailed)
        }
        return index.manifests ?? []
    }
}
