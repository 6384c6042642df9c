public import BerthCache
public import BerthStorage
internal import Foundation
public import Logging
public import OCI

/// registry:2's `garbage-collect`, with its flags and its output, made safe to run while the
/// registry serves and pushes go on.
///
/// Marking keeps every manifest a repository links (with `deleteUntagged`, only what a tag
/// reaches, the children of a kept index and referrers of a kept manifest) and what each
/// references; a mirrored repository keeps everything it caches (its own expiry decides).
/// A blob that is not marked, and whose data is older than the grace period, is eligible.
///
/// A push racing the sweep never ends with a manifest whose blobs are gone. The collector moves
/// eligible blobs aside (`gc-trash`) first, then looks at every repository again, puts back what
/// a manifest linked meanwhile names, and only then deletes what is left aside; it never
/// removes a blob's data after that second look. A manifest push, for its part, links the
/// manifest and only then checks, in storage itself, that its blobs are there
/// (`ManifestStore.put`). So either the push's check comes after the blob was moved aside and
/// the push fails (the client pushes the blob again), or its link came before the second look
/// and the blob is put back. Until the second look is done, pulls read a blob set aside from the
/// trash (`BlobStore.aside`), so such an image pulls throughout. A run that stops half-way
/// leaves its blobs aside, not deleted; the next run puts them back before it starts.
public struct GarbageCollector: Sendable {
    public struct Options: Sendable {
        /// Reports what would be deleted; changes nothing.
        public var dryRun = false
        /// Also deletes manifests no tag reaches (registry:2's `--delete-untagged`).
        public var deleteUntagged = false
        /// Blobs and untagged manifests younger than this are kept: a push may be about to
        /// reference them.
        public var gracePeriod: Duration = .seconds(3600)

        public init() {}
    }

    /// What a run found and did.
    public struct Summary: Sendable, Equatable {
        public var marked = 0
        public var eligibleBlobs = 0
        public var eligibleManifests = 0
        /// Unreferenced blobs kept because they are younger than the grace period.
        public var keptYoung = 0
        public var deletedBlobs = 0
        /// Blobs set aside and put back: a manifest pushed during the run names them.
        public var restoredBlobs = 0
        /// Bad entries in storage, each with its path; reported, and kept rather than deleted.
        public var problems: [String] = []
    }

    /// Where a run may be paused (by a test making a push happen there).
    public enum Phase: Sendable {
        /// Everything is marked; nothing has been deleted.
        case marked
        /// Eligible blobs are aside; the second look has not begun.
        case setAside
        /// The second look is done: what is still aside is deleted next.
        case decided
    }

    let storage: RegistryStorage
    let isMirrored: @Sendable (RepositoryName) -> Bool
    let output: @Sendable (String) -> Void
    let logger: Logger

    /// `isMirrored` tells the repositories an upstream's cache holds; `output` takes the lines
    /// registry:2 prints on standard output.
    public init(
        driver: any StorageDriver, cache: any DescriptorCache, isMirrored: @escaping @Sendable (RepositoryName) -> Bool,
        output: @escaping @Sendable (String) -> Void, logger: Logger
    ) {
        storage = RegistryStorage(driver: driver, cache: cache, logger: logger)
        self.isMirrored = isMirrored
        self.output = output
        self.logger = logger
    }

    var layout: RegistryLayout { storage.layout }

    public func run(
        _ options: Options, now: Double? = nil, pause: @Sendable (Phase) async throws -> Void = { _ in }
    ) async throws -> Summary {
        let cutoff = (now ?? Date().timeIntervalSince1970) - Double(options.gracePeriod / .milliseconds(1)) / 1000
        var run = Run()
        if !options.dryRun { try await putBackWhatARunLeftAside() }

        let names = try await repositories(&run)
        try await inOrder(names, { try await mark($0, options, cutoff: cutoff) }) { marks in
            marks.lines.forEach(output)
            for digest in marks.marked { run.marked.insert(digest) }
            for digest in marks.expanded { run.expanded.insert(digest) }
            if !marks.untagged.isEmpty { run.untagged[marks.name] = marks.untagged }
            run.report(marks.problems, logger: logger)
        }
        try await pause(.marked)
        if !options.dryRun {
            let untagged = run.untagged.sorted { $0.key.value < $1.key.value }
            try await inOrder(untagged, { try await deleteManifests($0.value, of: $0.key, cutoff: cutoff) }) {
                run.unlinked[$0.name] = $0.digests
            }
        }
        let eligible = try await eligibleBlobs(cutoff: cutoff, &run)
        run.summary.marked = run.marked.count
        run.summary.eligibleBlobs = eligible.count
        run.summary.eligibleManifests = run.untagged.values.reduce(0) { $0 + $1.count }
        output("")
        output(
            "\(run.summary.marked) blobs marked, \(eligible.count) blobs and \(run.summary.eligibleManifests) manifests eligible for deletion"
        )
        if options.dryRun {
            eligible.forEach { output("blob eligible for deletion: \($0)") }
            return run.summary
        }

        var aside = DigestSet()
        try await inOrder(eligible, { try await setAside($0) }) { digest, moved in
            output("blob eligible for deletion: \(digest)")
            if moved { aside.insert(digest) }
        }
        if !aside.isEmpty || run.summary.eligibleManifests > 0 {
            try await storage.driver.putContent(layout.garbageCollected, Array(UUID().uuidString.utf8))
        }
        try await pause(.setAside)
        let wanted = try await secondLook(aside, &run)
        try await pause(.decided)
        try await inOrder(aside, { try await decide($0, keep: wanted.contains($0)) }) { digest, kept in
            if kept {
                run.summary.restoredBlobs += 1
                logger.info(
                    "blob kept: a manifest pushed while garbage collection ran references it",
                    metadata: ["digest": "\(digest)"])
            } else {
                run.summary.deletedBlobs += 1
            }
        }
        try await storage.deleteIfPresent(layout.garbageTrash)
        return run.summary
    }

    /// What one run collects as it goes.
    struct Run {
        var summary = Summary()
        /// Manifests and blobs that stay.
        var marked = DigestSet()
        /// Manifests whose references are in `marked`.
        var expanded = DigestSet()
        /// Untagged manifests to delete, by repository (with `deleteUntagged`).
        var untagged: [RepositoryName: [Digest]] = [:]
        /// Those deleted, by repository: a second look that finds one needed links it again.
        var unlinked: [RepositoryName: Set<Digest>] = [:]

        mutating func report(_ problems: [String], logger: Logger) {
            // The second look walks the same entries again.
            for message in problems where !summary.problems.contains(message) {
                summary.problems.append(message)
                logger.warning("\(message)")
            }
        }
    }

    /// Every repository, in lexical order (registry:2's).
    func repositories(_ run: inout Run) async throws -> [RepositoryName] {
        var names: [RepositoryName] = []
        var problems: [String] = []
        for directory in try await Catalog(storage: storage).repositoryDirectories() {
            do {
                names.append(try RepositoryName(directory.path))
            } catch {
                problems.append(
                    "\(layout.repositories)/\(directory.path): not a valid repository name; its content is kept")
            }
        }
        run.report(problems, logger: logger)
        return names.sorted { $0.value < $1.value }
    }

    /// Moves an eligible blob's data aside; false when it was gone already (another run's, or
    /// registry:2's, deletion).
    private func setAside(_ digest: Digest) async throws -> (Digest, Bool) {
        do {
            try await storage.driver.move(from: layout.blobData(digest), to: layout.garbageTrash(digest))
            return (digest, true)
        } catch StorageError.notFound {
            return (digest, false)
        }
    }

    /// Puts a blob back, or deletes it for good; true when it was kept.
    private func decide(_ digest: Digest, keep: Bool) async throws -> (Digest, Bool) {
        if keep {
            try await putBack(digest)
        } else {
            logger.info("Deleting blob: \(layout.blobDirectory(digest))")
            try await storage.deleteIfPresent(layout.garbageTrash(digest))
            await storage.cache.forgetDescriptor(of: digest)
        }
        return (digest, keep)
    }

    /// Puts a blob set aside back where it was (unless a push stored it again meanwhile).
    private func putBack(_ digest: Digest) async throws {
        if try await storage.exists(layout.blobData(digest)) {
            try await storage.deleteIfPresent(layout.garbageTrash(digest))
        } else {
            try await storage.driver.move(from: layout.garbageTrash(digest), to: layout.blobData(digest))
        }
    }

    /// A run that stopped after setting blobs aside never decided about them: they go back.
    private func putBackWhatARunLeftAside() async throws {
        var count = 0
        for algorithm in Digest.Algorithm.allCases {
            for hex in try await storage.listIfPresent("\(layout.garbageTrash)/\(algorithm.rawValue)") {
                guard let digest = try? Digest(algorithm: algorithm, hex: hex) else { continue }
                try await putBack(digest)
                count += 1
            }
        }
        if count > 0 {
            logger.warning("put back \(count) blob(s) that a garbage collection which did not finish had set aside")
        }
        try await storage.deleteIfPresent(layout.garbageTrash)
    }
}
