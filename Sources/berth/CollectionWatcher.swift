import BerthRegistry
import Logging
import ServiceLifecycle

/// Notices a garbage collection run by another process (`berth garbage-collect` from cron) and
/// drops this process's in-memory cache, which would otherwise go on saying that removed blobs
/// and manifests are there. Only for caches of its own: Redis is kept current by the collector.
struct CollectionWatcher: Service {
    let registry: Registry
    let interval: Duration
    let logger: Logger

    func run() async throws {
        var seen = await registry.lastCollection()
        while true {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            let last = await registry.lastCollection()
            if last != seen {
                await registry.forgetCached()
                logger.info("garbage collection ran: the in-memory cache starts afresh")
                seen = last
            }
        }
    }
}
