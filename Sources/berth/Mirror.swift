import AsyncHTTPClient
import BerthCache
import BerthConfig
import BerthRegistry
import BerthStorage
import BerthUpstream
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// The pull-through mirror made from `mirror.upstreams` and registry:2's `proxy`: a namespace
/// per upstream, each with its own HTTP client (its own timeouts), and the expiry of what they
/// cached. As a service, it sweeps every `mirror.expiry.interval` (and soon after a capped
/// cache grew) until shutdown, outlives the HTTP server in the shutdown order, then closes the
/// clients.
struct Mirror: Service {
    let namespaces: [MirrorNamespace]
    let clients: [HTTPClient]
    let cache: MirrorCache
    let leases: any FetchLeases
    /// Nil when storage is read-only: nothing is removed then.
    let expiry: MirrorExpiry?
    let sweep = SweepSignal()
    let interval: Duration
    let logger: Logger

    init?(
        _ configuration: Configuration, driver: any StorageDriver, descriptors: any DescriptorCache,
        leases: any FetchLeases, localBlobs: LocalBlobCache?, logger: Logger
    ) {
        self.leases = leases
        let mirror = configuration.mirror
        guard !mirror.upstreams.isEmpty else { return nil }
        let cache = MirrorCache(driver: driver, cache: descriptors, localBlobs: localBlobs, logger: logger)
        self.cache = cache
        interval = mirror.sweepInterval
        self.logger = logger
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
                    leases: leases, sweep: sweep, logger: logger))
            logger.info(
                "mirroring upstream \(upstream.name)",
                metadata: [
                    "url": "\(upstream.url)", "prefixes": "\(upstream.prefixes.joined(separator: ","))",
                    "default": "\(upstream.isDefault)",
                ])
        }
        self.clients = clients
        self.namespaces = namespaces
        expiry =
            configuration.storage.readOnly
            ? nil : MirrorExpiry(namespaces: namespaces, cache: cache, inUse: mirror.inUse, logger: logger)
    }

    func run() async throws {
        if let expiry {
            await cancelWhenGracefulShutdown { await sweeping(expiry) }
        } else {
            try? await gracefulShutdown()
        }
        for client in clients { try await client.shutdown() }
    }

    /// Sweeps at start-up, every interval, and when a capped cache asks; at most one a second.
    private func sweeping(_ expiry: MirrorExpiry) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [sweep, interval] in
                while !Task.isCancelled {
                    sweep.request()
                    try? await Task.sleep(for: interval)
                }
            }
            for await _ in sweep.requests {
                do {
                    try await expiry.sweep()
                } catch {
                    logger.warning("mirror expiry failed; trying again later", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(1))
                if Task.isCancelled { break }
            }
            group.cancelAll()
        }
    }

    /// `/debug/mirror`: each upstream's counters as JSON.
    func countersJSON() -> String {
        let snapshot = Dictionary(namespaces.map { ($0.upstream.name, $0.counters.snapshot) }) { a, _ in a }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(["upstreams": snapshot])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
