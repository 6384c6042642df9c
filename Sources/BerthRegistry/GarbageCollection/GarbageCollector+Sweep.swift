internal import BerthCache
internal import BerthStorage
internal import Logging
internal import OCI

extension GarbageCollector {
    /// Every stored blob that is not marked and is older than `cutoff`, read one directory of
    /// the store at a time, so that only the marks and the answer are held.
    func eligibleBlobs(cutoff: Double, _ run: inout Run) async throws -> DigestSet {
        var eligible = DigestSet()
        for algorithm in Digest.Algorithm.allCases {
            let root = "\(layout.blobs)/\(algorithm.rawValue)"
            for prefix in try await storage.listIfPresent(root) {
                for hex in try await storage.listIfPresent("\(root)/\(prefix)") {
                    guard let digest = try? Digest(algorithm: algorithm, hex: hex), hex.hasPrefix(prefix) else {
                        run.problem("\(root)/\(prefix)/\(hex): not a blob directory; ignored", logger: logger)
                        continue
                    }
                    guard !run.marked.contains(digest) else { continue }
                    // A directory without data is what a deleted blob leaves on a file system.
                    guard let info = try? await storage.driver.stat(layout.blobData(digest)) else { continue }
                    if info.modified >= cutoff {
                        run.summary.keptYoung += 1
                    } else {
                        eligible.insert(digest)
                    }
                }
            }
        }
        return eligible
    }

    /// The second look, after eligible blobs were set aside: which of them a repository needs
    /// now, because a manifest was linked or tagged (or a mirror cached a blob) since the mark.
    /// Manifests this run unlinked and finds needed again are linked again.
    func secondLook(_ aside: DigestSet, _ run: inout Run) async throws -> DigestSet {
        var wanted = DigestSet()
        guard !aside.isEmpty else { return wanted }
        for name in try await repositories(&run) {
            let linked = Set(try await revisions(of: name, &run)).union(try await tagTargets(of: name, &run))
            if isMirrored(name) {
                for digest in try await layers(of: name) where aside.contains(digest) { wanted.insert(digest) }
            }
            // Manifests whose references the mark did not see: new ones, and any set aside.
            var queue = linked.filter { !run.expanded.contains($0) || aside.contains($0) }
            var seen: Set<Digest> = []
            while let manifest = queue.popFirst() {
                guard seen.insert(manifest).inserted else { continue }
                if aside.contains(manifest) { wanted.insert(manifest) }
                if run.unlinked[name]?.contains(manifest) == true {
                    try await storage.link(name, manifest, as: .manifest)
                    logger.info(
                        "manifest linked again: it was tagged or named while garbage collection ran",
                        metadata: ["repository": "\(name)", "digest": "\(manifest)"])
                }
                guard let references = await storedReferences(of: manifest) else { continue }
                for blob in references.blobs where aside.contains(blob) { wanted.insert(blob) }
                for child in references.manifests where !run.expanded.contains(child) || aside.contains(child) {
                    queue.insert(child)
                }
            }
        }
        return wanted
    }

    /// A manifest's references read from wherever its bytes are now (in place, or aside).
    private func storedReferences(of digest: Digest) async -> ManifestReferences? {
        for path in [layout.blobData(digest), layout.garbageTrash(digest)] {
            if let bytes = try? await storage.driver.getContent(path) { return try? ManifestReferences(bytes: bytes) }
        }
        return nil
    }
}
