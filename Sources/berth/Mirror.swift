import AsyncHTTPClient
import BerthConfig
import BerthRegistry
import BerthStorage
import BerthUpstream
import Logging
import NIOCore
import ServiceLifecycle

/// The pull-through mirror made from `mirror.upstreams` and registry:2's `proxy`: a namespace
/// per upstream, each with its own HTTP client (its own timeouts). As a service, it outlives
/// the HTTP server in the shutdown order, then closes the clients.
struct Mirror: Service {
    let namespaces: [MirrorNamespace]
    let clients: [HTTPClient]
    let cache: MirrorCache

    init?(_ configuration: Configuration, driver: any StorageDriver, logger: Logger) {
        let mirror = configuration.mirror
        guard !mirror.upstreams.isEmpty else { return nil }
        cache = MirrorCache(driver: driver, logger: logger)
        let prefixes = Set(mirror.upstreams.flatMap(\.prefixes))
        var clients: [HTTPClient] = []
        var namespaces: [MirrorNamespace] = []
        for upstream in mirror.upstreams {
            let timeout = TimeAmount.nanoseconds(Int64(upstream.timeout / .nanoseconds(1)))
            let client = HTTPClient(
                eventLoopGroupProvider: .singleton,
                configuration: HTTPClient.Configuration(
                    redirectConfiguration: .follow(max: 5, allowCycles: false),
                    timeout: HTTPClient.Configuration.Timeout(connect: .seconds(10), read: timeout)))
            clients.append(client)
            namespaces.append(
                MirrorNamespace(
                    upstream: upstream, local: mirror.local, allPrefixes: prefixes, cache: cache, http: client,
                    logger: logger))
            logger.info(
                "mirroring upstream \(upstream.name)",
                metadata: [
                    "url": "\(upstream.url)", "prefixes": "\(upstream.prefixes.joined(separator: ","))",
                    "default": "\(upstream.isDefault)",
                ])
        }
        self.clients = clients
        self.namespaces = namespaces
    }

    func run() async throws {
        try? await gracefulShutdown()
        for client in clients { try await client.shutdown() }
    }
}
