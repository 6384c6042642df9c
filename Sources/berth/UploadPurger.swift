import BerthConfig
import BerthRegistry
import Foundation
import Logging
import ServiceLifecycle

/// Runs upload purging every `interval`, as registry:2 does by default, and stops with the
/// service group.
struct UploadPurger: Service {
    let registry: Registry
    let settings: Configuration.UploadPurging
    let logger: Logger

    func run() async throws {
        // A little jitter, so that replicas started together do not walk storage together.
        let jitterLimit = Int64(min(60_000, settings.interval / .milliseconds(1)))
        var delay = Duration.milliseconds(Int64.random(in: 0...max(jitterLimit, 0)))
        while true {
            let wait = delay
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            } catch {
                return
            }
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            do {
                let cutoff = Date().addingTimeInterval(-Double(settings.age.components.seconds))
                let purged = try await registry.purgeUploads(startedBefore: cutoff, dryRun: settings.dryRun)
                if !purged.isEmpty {
                    logger.info(
                        "\(settings.dryRun ? "would purge" : "purged") \(purged.count) upload(s) older than \(settings.age)",
                        metadata: ["uploads": "\(purged.prefix(20).joined(separator: ","))"])
                }
            } catch {
                logger.warning("upload purging failed: \(error)")
            }
            delay = settings.interval
        }
    }
}
