import ArgumentParser
import AsyncHTTPClient
import BerthAPI
import BerthAuth
import BerthCache
import BerthConfig
import BerthHTTP
import BerthRegistry
import BerthStorage
import CoreMetrics
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `berth serve [CONFIG]`: the registry, as `registry serve CONFIG` runs it.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the registry API.",
        discussion: """
            With no CONFIG (and no REGISTRY_CONFIGURATION_PATH) Berth serves on :5000 and stores \
            images under ./berth-data. REGISTRY_* environment variables override the configuration \
            as they do for registry:2.
            """
    )

    @Argument(help: "A registry:2 configuration file (config.yml).")
    var config: String?

    func run() async throws {
        let (loaded, logger) = try LoadedConfiguration.load(config)
        let configuration = loaded.configuration

        let storage = try StorageSetup.start(configuration.storage, logger: logger)
        // `http.debug.prometheus`: made before the parts it measures, which are given its factory.
        let metrics = configuration.http.prometheusPath != nil ? PrometheusMetrics() : nil
        let notifier =
            configuration.notifications.endpoints.isEmpty
            ? nil
            : Notifier(
                configuration.notifications, factory: metrics?.factory ?? NOOPMetricsHandler.instance, logger: logger)
        let server: HTTPServer
        let registry: Registry
        let mirror: Mirror?
        do {
            (server, registry, mirror) = try await makeServer(
                configuration, storage: storage, metrics: metrics, events: notifier, logger: logger,
                source: loaded.source)
        } catch let error as ConfigError {
            try? await storage.client?.shutdown()
            throw LoadedConfiguration.refuse(error)
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let client = storage.client {
            services.append(.init(service: HTTPClientService(client: client)))  // the last to go
        }
        do {
            // A bucket that is missing or refuses the credentials is said now, not at the first push.
            try await registry.checkStorage()
        } catch {
            logger.error("storage is not usable: \(error)", metadata: storage.metadata)
            try? await storage.client?.shutdown()
            throw ExitCode(1)
        }
        if let mirror {
            // Partial fetches a crash left behind; no fetch of this process runs yet, but other
            // replicas' may.
            try await mirror.cache.removeStaging(idle: mirror.leases.isShared ? 3600 : nil)
            services.append(.init(service: mirror))  // first in, so shut down after the server
        }
        let draining = Draining()
        if let debug = configuration.http.debug {
            // Before the API server in the list, so shut down after it: readiness answers for
            // the whole drain.
            services.append(
                .init(
                    service: debugServer(
                        debug, registry: registry, mirror: mirror, draining: draining, metrics: metrics,
                        path: configuration.http.prometheusPath, logger: logger)))
        }
        if let notifier {
            services.append(.init(service: notifier))  // stops after the server: the last events are queued
        }
        services.append(.init(service: server))
        if case .inMemory = configuration.storage.blobDescriptorCache {
            services.append(
                .init(service: CollectionWatcher(registry: registry, interval: .seconds(2), logger: logger)))
        }
        if configuration.storage.uploadPurging.enabled && !configuration.storage.readOnly {
            services.append(
                .init(
                    service: UploadPurger(
                        registry: registry, settings: configuration.storage.uploadPurging, logger: logger)))
        }
        services.append(.init(service: DrainWatch(draining: draining)))  // the first told to stop
        var groupConfiguration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger)
        // http.draintimeout: in-flight requests get this long after SIGTERM, then are cancelled.
        groupConfiguration.maximumGracefulShutdownDuration = configuration.http.drainTimeout
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch {
            logger.error("berth stopped: \(error)")
            throw ExitCode(1)
        }
        logger.info("berth stopped")
    }

    /// The `http.debug.addr` listener (`DebugAPI`).
    private func debugServer(
        _ address: (host: String, port: Int), registry: Registry, mirror: Mirror?, draining: Draining,
        metrics: PrometheusMetrics?, path: String?, logger: Logger
    ) -> HTTPServer {
        var pages: [String: @Sendable () async -> String] = [:]
        if let mirror { pages["/debug/mirror"] = { mirror.countersJSON() } }
        var served: (path: String, page: @Sendable () -> [UInt8])?
        if var metrics, let path {
            if let mirror {
                let exporter = MirrorMetrics(namespaces: mirror.namespaces, factory: metrics.factory)
                metrics.exporters.append { exporter.export() }
            }
            let ready = metrics
            served = (path, { ready.page() })
        }
        let configuration = HTTPServerConfiguration(
            host: address.host, port: address.port, errorBody: RegistryAPI.protocolErrorBody)
        return HTTPServer(
            configuration: configuration,
            responder: DebugAPI(registry: registry, draining: draining, pages: pages, metrics: served),
            logger: logger
        ) { bound in
            logger.info("debug listener on http://\(bound.ipAddress ?? address.host):\(bound.port ?? 0)")
        }
    }

    private func makeServer(
        _ configuration: Configuration, storage: StorageSetup, metrics: PrometheusMetrics?, events: Notifier?,
        logger: Logger, source: String
    ) async throws
        -> (HTTPServer, Registry, Mirror?)
    {
        var options = Registry.Options()
        options.deleteEnabled = configuration.storage.deleteEnabled
        options.readOnly = configuration.storage.readOnly
        options.redirectDisabled = configuration.storage.redirectDisabled
        if !configuration.validation.disabled {
            options.foreignLayerURLs = ForeignLayerPolicy(
                allow: configuration.validation.urlsAllow, deny: configuration.validation.urlsDeny)
        }
        // Held pulls are as durable as the in-memory cache's links (see `HeldManifests`).
        if case .inMemory = configuration.storage.blobDescriptorCache { options.holdManifests = true }
        var driver = storage.driver
        var (cache, leases) = SharedState.make(configuration.storage.blobDescriptorCache, logger: logger)
        if let metrics {
            driver = MeasuredDriver(driver, factory: metrics.factory)
            cache = CountingDescriptorCache(
                cache, kind: configuration.storage.blobDescriptorCache.name, factory: metrics.factory)
        }
        var localBlobs: LocalBlobCache?
        if let settings = configuration.storage.localBlobs {
            do {
                localBlobs = try await LocalBlobCache.open(
                    directory: settings.directory, maxSize: settings.maxSize, logger: logger)
            } catch {
                throw ConfigError(key: "storage.cache.localblobs.directory", message: "cannot be used: \(error)")
            }
        }
        let mirror = Mirror(
            configuration, driver: driver, descriptors: cache, leases: leases, localBlobs: localBlobs, logger: logger)
        let registry = Registry(
            driver: driver, cache: cache, options: options, localBlobs: localBlobs, logger: logger,
            routed: mirror?.namespaces ?? [])

        var apiOptions = RegistryAPI.Options()
        apiOptions.urls = URLBuilder(
            prefix: configuration.http.prefix, host: configuration.http.externalURL,
            relative: configuration.http.relativeURLs)
        apiOptions.catalogMaxEntries = configuration.catalogMaxEntries
        if let metrics { apiOptions.metrics = APIMetrics(factory: metrics.factory) }
        // As registry:2 names itself in events: the host's name and the API's port (the bound
        // one, for port 0).
        let boundPort = Mutex(configuration.http.port)
        if let events {
            apiOptions.events = events
            let instance = UUID().uuidString.lowercased()
            let host = ProcessInfo.processInfo.hostName
            apiOptions.eventSource = {
                RegistryEvent.Source(addr: "\(host):\(boundPort.withLock { $0 })", instanceID: instance)
            }
        }
        if let mirror { apiOptions.debugPages["/debug/mirror"] = { mirror.countersJSON() } }
        if let htpasswd = configuration.auth.htpasswd {
            do {
                apiOptions.authorizer = try HtpasswdAuthorizer(realm: htpasswd.realm, path: htpasswd.path)
            } catch {
                throw ConfigError(key: "auth.htpasswd.path", message: error.description)
            }
        }
        if let token = configuration.auth.token {
            let auth = try await TokenAuth(token)
            apiOptions.authorizer = auth.authorizer
            if let server = auth.server { apiOptions.services[server.path] = server.responder }
        }
        let api = RegistryAPI(registry: registry, options: apiOptions, logger: logger)

        var http = HTTPServerConfiguration(
            host: configuration.http.host, port: configuration.http.port, errorBody: RegistryAPI.protocolErrorBody)
        http.extraHeaders = [RegistryAPI.versionHeader] + configuration.http.headers
        let accessLog = configuration.log.accessLogDisabled ? nil : AccessLogWriter(configuration.log)
        let requests = metrics.map { RequestMetrics(factory: $0.factory) }
        // One record per request feeds both; with neither, none is made (the hot path).
        switch (accessLog, requests) {
        case (let log?, let requests?):
            http.accessLog = {
                log.write($0); requests.record($0)
            }
        case (let log?, nil): http.accessLog = { log.write($0) }
        case (nil, let requests?): http.accessLog = { requests.record($0) }
        case (nil, nil): break
        }
        if api.answersImmediately { http.immediateResponder = api }
        http.idleTimeout = .nanoseconds(Int64(configuration.http.idleTimeout / .nanoseconds(1)))
        if let tls = configuration.http.tls {
            http.tls = try TLSContext.make(tls)
        }
        let scheme = http.tls == nil ? "http" : "https"
        let cacheKind =
            switch configuration.storage.blobDescriptorCache {
            case .none: "none"
            case .inMemory: "inmemory"
            case .redis(let redis): "redis \(redis.host):\(redis.port)"
            }
        let localKind = configuration.storage.localBlobs.map { "\($0.directory) (\($0.maxSize) bytes)" } ?? "none"
        let authKind =
            configuration.auth.htpasswd != nil
            ? "htpasswd" : configuration.auth.token.map { $0.server == nil ? "token" : "token+server" } ?? "none"
        let server = HTTPServer(configuration: http, responder: api, logger: logger) { address in
            boundPort.withLock { $0 = address.port ?? $0 }
            logger.info(
                "berth \(Berth.version) listening on \(scheme)://\(address.ipAddress ?? configuration.http.host):\(address.port ?? 0)",
                metadata: storage.metadata.merging(
                    [
                        "config": "\(source)", "cache": "\(cacheKind)", "localblobs": "\(localKind)",
                        "delete": "\(configuration.storage.deleteEnabled)",
                        "readonly": "\(configuration.storage.readOnly)", "auth": "\(authKind)",
                    ], uniquingKeysWith: { $1 }))
        }
        return (server, registry, mirror)
    }
}
