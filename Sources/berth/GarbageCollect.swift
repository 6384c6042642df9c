import ArgumentParser
import AsyncHTTPClient
import BerthCache
import BerthConfig
import BerthRegistry
import BerthUpstream
import Foundation
import Logging

/// `berth garbage-collect [--dry-run] [--delete-untagged] CONFIG`: registry:2's command, with
/// its flags and its output, safe to run while Berth serves the same storage.
struct GarbageCollect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "garbage-collect",
        abstract: "Delete blobs that no manifest references.",
        discussion: """
            Safe while Berth serves: blobs younger than \
            storage.maintenance.garbagecollect.graceperiod (default 1h) are kept, and a manifest \
            pushed during the run keeps what it references. Mirrored repositories are left to the \
            mirror's expiry.
            """
    )

    /// registry:2's flags also take a value (`--delete-untagged=true`, as many cron jobs and
    /// charts write them); the parser here takes flags bare, so those are rewritten first.
    static func registry2Flags(_ arguments: [String]) -> [String] {
        guard arguments.first == "garbage-collect" else { return arguments }
        return arguments.compactMap { argument in
            for flag in ["--delete-untagged", "--dry-run", "-m", "-d"] where argument.hasPrefix(flag + "=") {
                let value = argument.dropFirst(flag.count + 1).lowercased()
                if ["true", "t", "1"].contains(value) { return flag }
                if ["false", "f", "0"].contains(value) { return nil }
            }
            return argument
        }
    }

    @Flag(name: [.customShort("d"), .long], help: "Do everything except remove the blobs.")
    var dryRun = false

    @Flag(name: [.customShort("m"), .long], help: "Delete manifests that are not currently referenced via tag.")
    var deleteUntagged = false

    @Argument(help: "A registry:2 configuration file (config.yml).")
    var config: String?

    func run() async throws {
        let (loaded, logger) = try LoadedConfiguration.load(config)
        let configuration = loaded.configuration
        let storage = try StorageSetup.start(configuration.storage, walkingOnce: true, logger: logger)
        // Only a shared cache outlives this process: entries of what is deleted go from Redis.
        var cache: any DescriptorCache = NoDescriptorCache()
        if case .redis = configuration.storage.blobDescriptorCache {
            cache = SharedState.make(configuration.storage.blobDescriptorCache, logger: logger).0
        }
        let mirrored = MirroredRepositories(configuration.mirror)
        let collector = GarbageCollector(
            driver: storage.driver, cache: cache, isMirrored: { mirrored.contains($0) },
            output: { print($0) }, logger: logger)
        var options = GarbageCollector.Options()
        options.dryRun = dryRun
        options.deleteUntagged = deleteUntagged
        options.gracePeriod = configuration.storage.garbageCollectGracePeriod
        let summary: GarbageCollector.Summary
        do {
            summary = try await collector.run(options)
        } catch {
            try? await storage.client?.shutdown()
            logger.error("garbage collection stopped: \(error); blobs it set aside are put back by the next run")
            throw ExitCode(1)
        }
        try? await storage.client?.shutdown()
        if !summary.problems.isEmpty {
            logger.warning("garbage collection found \(summary.problems.count) problem(s) in storage; see above")
        }
        if summary.keptYoung > 0 {
            logger.info(
                "\(summary.keptYoung) unreferenced blob(s) kept: younger than the grace period",
                metadata: ["graceperiod": "\(options.gracePeriod)"])
        }
    }
}
