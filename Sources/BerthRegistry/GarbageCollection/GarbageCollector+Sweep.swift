internal import BerthCache
internal import BerthStorage
internal import Logging
internal import OCI

extension GarbageCollector {
    /// Every stored blob that is not marked and is older than `cutoff`, read one directory of
    /// the store at a time (`blobs/<alg>/<2 hex>/`), so that only the marks and the answer are
    /// held.
    func eligibleBlobs(cutoff: Double, _ run: inout Run) async throws -> DigestSet {
        var directories: [(Digest.Algorithm, String)] = []
        for algorithm in Digest.Algorithm.allCases {
            for prefix in try await storage.listIfPresent("\(layout.blobs)/\(algorithm.rawValue)") {
                directories.append((algorithm, prefix))
            }
        }
        let marked = run.marked
        var eligible = DigestSet()
        try await inOrder(directories, { try await eligibleBlobs(in: $0.0, $0.1, marked: marked, cutoff: cutoff) }) {
            found in
            found.eligible.forEach { eligible.insert($0) }
            run.summary.keptYoung += found.young
            run.report(found.problems, logger: logger)
        }
        return eligible
    }

    private func eligibleBlobs(
        in algorithm: Digest.Algorithm, _ prefix: String, marked: DigestSet, cutoff: Double
    ) async throws -> (eligible: [Digest], young: Int, problems: [String]) {
        let directory = "\(layout.blobs)/\(algorithm.rawValue)/\(prefix)"
        var found: (eligible: [Digest], young: Int, problems: [String]) = ([], 0, [])
        for hex in try await storage.listIfPresent(directory) {
            guard let digest = try? Digest(algorithm: algorithm, hex: hex), hex.hasPrefix(prefix) else {
                found.problems.append("\(directory)/\(hex): not a blob directory; ignored")
                continue
            }
            guard !marked.contains(digest) else { continue }
            // A directory without data is what a deleted blob leaves on a file system.
            guard let info = try? await storage.driver.stat(layout.blobData(digest)) else { continue }
            if info.modified >= cutoff {
                found.young += 1
            } else {
                found.eligible.append(digest)
            }
        }
        return found
    }

    /// The second look, after eligible blobs were set aside: which of them a repository needs
    /// now, because a manifest was linked or tagged (or a mirror cached a blob) since the mark.
    /// Manifests this run unlinked and finds needed again are linked again.
    func secondLook(_ aside: DigestSet, _ run: inout Run) async throws -> DigestSet {
        var wanted = DigestSet()
        guard !aside.isEmpty else { return wanted }
        let (expanded, unlinked) = (run.expanded, run.unlinked)
        try await inOrder(
            try await repositories(&run),
            {
                try await needed(in: $0, aside: aside, expanded: expanded, unlinked: unlinked[$0] ?? [])
            }
        ) { found in
            found.needed.forEach { wanted.insert($0) }
            run.report(found.problems, logger: logger)
        }
        return wanted
    }

    /// What one repository needs of the blobs set aside.
    private func needed(
        in name: RepositoryName, aside: DigestSet, expanded: DigestSet, unlinked: Set<Digest>
    ) async throws -> (needed: [Digest], problems: [String]) {
        var problems: [String] = []
        var needed: [Digest] = []
        let linked = Set(try await revisions(of: name, &problems)).union(try await tagTargets(of: name, &problems))
        if isMirrored(name) {
            needed += try await layers(of: name).filter { aside.contains($0) }
        }
        // Manifests whose references the mark did not see: new ones, and any set aside.
        var queue = linked.filter { !expanded.contains($0) || aside.contains($0) }
        var seen: Set<Digest> = []
        while let manifest = queue.popFirst() {
            guard seen.insert(manifest).inserted else { continue }
            if aside.contains(manifest) { needed.append(manifest) }
            if unlinked.contains(manifest) {
                try await storage.link(name, manifest, as: .manifest)
                logger.info(
                    "manifest linked again: it was tagged or named while garbage collection ran",
                    metadata: ["repository": "\(name)", "digest": "\(manifest)"])
            }
            guard let references = await storedReferences(of: manifest) else { continue }
            needed += references.blobs.filter { aside.contains($0) }
            for child in references.manifests where !expanded.contains(child) || aside.contains(child) {
                queue.insert(child)
            }
        }
        return (needed, problems)
    }

    /// A manifest's references read from wherever its bytes are now (in place, or aside).
    private func storedReferences(of digest: Digest) async -> ManifestReferences? {
        for path in [layout.blobData(digest), layout.garbageTrash(digest)] {
            if let bytes = try? await storage.driver.getContent(path) { return try? ManifestReferences(bytes: bytes) }
        }
        return nil
    }
}
