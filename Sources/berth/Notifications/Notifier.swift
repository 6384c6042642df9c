import AsyncHTTPClient
import BerthAPI
import BerthConfig
import CoreMetrics
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// registry:2's notifications: each configured endpoint has its own bounded queue and one
/// delivery loop that sends events in order, one envelope each, and tries an event again after
/// a failure (at once while fewer than `threshold` failed in a row, then every `backoff`) until
/// the endpoint takes it. `post` only enqueues, so a slow or dead endpoint never slows a
/// request; when an endpoint's queue is full, new events for it are dropped, logged and
/// counted. A service: it stops after the API server, so events of the last requests are queued.
struct Notifier: EventSink, Service {
    let endpoints: [Endpoint]
    let client: HTTPClient
    let logger: Logger

    final class Endpoint: Sendable {
        let settings: Configuration.Endpoint
        let events: AsyncStream<RegistryEvent>
        let queue: AsyncStream<RegistryEvent>.Continuation
        let sent: Counter
        let failed: Counter
        let dropped: Counter
        /// Set at shutdown: queued events are still sent, but a failure ends the delivery.
        let stopping = Atomic<Bool>(false)

        init(_ settings: Configuration.Endpoint, factory: any MetricsFactory) {
            self.settings = settings
            (events, queue) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(settings.queueSize))
            let labels = [("endpoint", settings.name)]
            sent = Counter(label: "berth_notifications_sent_total", dimensions: labels, factory: factory)
            failed = Counter(label: "berth_notifications_failures_total", dimensions: labels, factory: factory)
            dropped = Counter(label: "berth_notifications_dropped_total", dimensions: labels, factory: factory)
        }

        func wants(_ event: RegistryEvent) -> Bool {
            !settings.ignoredActions.contains(event.action)
                && !(event.target.mediaType.map(settings.ignoredMediaTypes.contains) ?? false)
        }
    }

    init(_ notifications: Configuration.Notifications, factory: any MetricsFactory, logger: Logger) {
        endpoints = notifications.endpoints.map { Endpoint($0, factory: factory) }
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        self.logger = logger
        for endpoint in endpoints {
            logger.info(
                "notifying endpoint \(endpoint.settings.name)",
                metadata: [
                    "url": "\(endpoint.settings.url)", "timeout": "\(endpoint.settings.timeout)",
                    "threshold": "\(endpoint.settings.threshold)", "backoff": "\(endpoint.settings.backoff)",
                ])
        }
    }

    func post(_ event: RegistryEvent) {
        for endpoint in endpoints where endpoint.wants(event) {
            if case .dropped = endpoint.queue.yield(event) {
                endpoint.dropped.increment()
                logger.warning(
                    "notification dropped: the endpoint's queue is full",
                    metadata: [
                        "endpoint": "\(endpoint.settings.name)", "action": "\(event.action)",
                        "repository": "\(event.target.repository)", "queuesize": "\(endpoint.settings.queueSize)",
                    ])
            }
        }
    }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for endpoint in endpoints {
                    group.addTask { await deliver(endpoint) }
                }
            }
        } onGracefulShutdown: {
            // What is queued is still sent while the endpoint takes it; the first failure ends
            // it, so that a dead endpoint does not hold the shutdown for its drain time.
            for endpoint in endpoints {
                endpoint.stopping.store(true, ordering: .relaxed)
                endpoint.queue.finish()
            }
        }
        try? await client.shutdown()
    }

    private func deliver(_ endpoint: Endpoint) async {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for await event in endpoint.events {
            guard let body = try? encoder.encode(["events": [event]]) else { continue }
            var failures = 0
            while !Task.isCancelled {
                do {
                    try await send(body, to: endpoint.settings)
                    endpoint.sent.increment()
                    break
                } catch {
                    failures += 1
                    endpoint.failed.increment()
                    if endpoint.stopping.load(ordering: .relaxed) {
                        logger.warning(
                            "notifications not delivered: shutting down while the endpoint fails",
                            metadata: ["endpoint": "\(endpoint.settings.name)", "error": "\(error)"])
                        return
                    }
                    logger.warning(
                        "notification failed; trying again",
                        metadata: [
                            "endpoint": "\(endpoint.settings.name)", "error": "\(error)", "failures": "\(failures)",
                        ])
                    let pause = failures >= endpoint.settings.threshold ? endpoint.settings.backoff : .milliseconds(50)
                    try? await Task.sleep(for: pause)
                }
            }
        }
    }

    struct Refused: Error, CustomStringConvertible {
        let status: UInt
        var description: String { "the endpoint answered \(status)" }
    }

    private func send(_ body: Data, to endpoint: Configuration.Endpoint) async throws {
        var request = HTTPClientRequest(url: endpoint.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: RegistryEvent.envelopeMediaType)
        for (name, value) in endpoint.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let timeout = TimeAmount.nanoseconds(Int64(endpoint.timeout / .nanoseconds(1)))
        let response = try await client.execute(request, timeout: timeout)
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else { throw Refused(status: response.status.code) }
    }
}
