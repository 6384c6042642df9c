internal import BerthCache
internal import BerthStorage
internal import Foundation
internal import Logging
internal import OCI

extension GarbageCollector {
    /// What one repository keeps, and registry:2's lines for it.
    struct RepositoryMarks: Sendable {
        let name: RepositoryName
        var lines: [String] = []
        var marked: [Digest] = []
        /// Manifests whose references are in `marked`.
        var expanded: [Digest] = []
        /// With `deleteUntagged`: the manifests to delete.
        var untagged: [Digest] = []
        var problems: [String] = []
    }

    func mark(_ name: RepositoryName, _ options: Options, cutoff: Double) async throws -> RepositoryMarks {
        var marks = RepositoryMarks(name: name, lines: [name.value])
        let revisions = try await revisions(of: name, &marks.problems)
        let tagged = try await tagTargets(of: name, &marks.problems)
        let mirrored = isMirrored(name)
        var kept = Set(revisions).union(tagged)
        var references: [Digest: ManifestReferences] = [:]

        if options.deleteUntagged && !mirrored {
            for digest in revisions {
                references[digest] = try await self.references(of: digest, in: name, &marks.problems)
            }
            let roots = tagged.union(try await young(revisions, of: name, cutoff: cutoff))
            kept = reachable(from: roots, among: revisions, references)
            marks.untagged = revisions.filter { !kept.contains($0) }
            for digest in marks.untagged { marks.lines.append("manifest eligible for deletion: \(digest)") }
        }

        for digest in kept.sorted() {
            marks.lines.append("\(name): marking manifest \(digest) ")
            marks.marked.append(digest)
            let found: ManifestReferences?
            if let known = references[digest] {
                found = known
            } else {
                found = try await self.references(of: digest, in: name, &marks.problems)
            }
            for reference in found?.all ?? [] {
                marks.lines.append("\(name): marking blob \(reference)")
                marks.marked.append(reference)
            }
            marks.expanded.append(digest)
        }
        if mirrored {
            for digest in try await layers(of: name) {
                marks.lines.append("\(name): marking blob \(digest)")
                marks.marked.append(digest)
            }
        }
        return marks
    }

    /// With `deleteUntagged`: the manifests reachable from `roots` through index children and
    /// referrers (a manifest whose subject is kept is kept), within the repository's revisions.
    private func reachable(
        from roots: Set<Digest>, among revisions: [Digest], _ references: [Digest: ManifestReferences]
    ) -> Set<Digest> {
        var referrers: [Digest: [Digest]] = [:]
        for digest in revisions {
            if let subject = references[digest]?.subject { referrers[subject, default: []].append(digest) }
        }
        var kept = roots
        var queue = Array(roots)
        while let digest = queue.popLast() {
            for next in (references[digest]?.manifests ?? []) + (referrers[digest] ?? [])
            where kept.insert(next).inserted {
                queue.append(next)
            }
        }
        return kept
    }

    /// Revisions whose link was written within the grace period: a push may be about to tag
    /// them or name them from an index.
    private func young(_ revisions: [Digest], of name: RepositoryName, cutoff: Double) async throws -> Set<Digest> {
        var young: Set<Digest> = []
        for digest in revisions {
            if let info = try? await storage.driver.stat(layout.revisionLink(name, digest)), info.modified >= cutoff {
                young.insert(digest)
            }
        }
        return young
    }

    /// The manifests the repository links (`_manifests/revisions/<alg>/<hex>/link`). The
    /// directory names the manifest, as registry:2 reads it; one without its link is what
    /// registry:2 leaves of a deleted manifest. A link whose content says otherwise is reported.
    func revisions(of name: RepositoryName, _ problems: inout [String]) async throws -> [Digest] {
        var digests: [Digest] = []
        for algorithm in Digest.Algorithm.allCases {
            let directory = "\(layout.revisions(name))/\(algorithm.rawValue)"
            for hex in try await storage.listIfPresent(directory) {
                guard let digest = try? Digest(algorithm: algorithm, hex: hex) else {
                    problems.append("\(directory)/\(hex): not a digest; ignored")
                    continue
                }
                let link = layout.revisionLink(name, digest)
                let content: [UInt8]
                do {
                    content = try await storage.driver.getContent(link)
                } catch StorageError.notFound {
                    continue
                }
                digests.append(digest)
                if (try? Digest(parsing: String(decoding: content, as: UTF8.self))) != digest {
                    problems.append("\(link): corrupt link (does not name \(digest)); the manifest is kept")
                }
            }
        }
        return digests
    }

    /// What the repository's tags point at; a corrupt tag link is reported.
    func tagTargets(of name: RepositoryName, _ problems: inout [String]) async throws -> Set<Digest> {
        var targets: Set<Digest> = []
        for tagName in try await storage.listIfPresent(layout.tags(name)) {
            guard let tag = try? Tag(tagName) else { continue }
            let link = layout.tagCurrentLink(name, tag)
            guard let content = try? await storage.driver.getContent(link) else { continue }
            let text = String(decoding: content, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let digest = try? Digest(parsing: text) else {
                problems.append("\(link): corrupt tag link \"\(text.prefix(80))\"; ignored")
                continue
            }
            targets.insert(digest)
        }
        return targets
    }

    /// The blobs a mirrored repository caches (`_layers`).
    func layers(of name: RepositoryName) async throws -> [Digest] {
        var digests: [Digest] = []
        for algorithm in Digest.Algorithm.allCases {
            for hex in try await storage.listIfPresent("\(layout.repository(name))/_layers/\(algorithm.rawValue)") {
                if let digest = try? Digest(algorithm: algorithm, hex: hex) { digests.append(digest) }
            }
        }
        return digests
    }

    /// What a linked manifest references; nil, with the problem reported, when its data is
    /// missing or is not a manifest.
    func references(
        of digest: Digest, in name: RepositoryName, _ problems: inout [String]
    ) async throws
        -> ManifestReferences?
    {
        let path = layout.blobData(digest)
        do {
            return try ManifestReferences(bytes: try await storage.driver.getContent(path))
        } catch StorageError.notFound {
            problems.append("\(path): data of manifest \(digest), linked in \(name), is missing")
        } catch let problem as ManifestReferences.Problem {
            problems.append("\(path): manifest \(digest), linked in \(name), \(problem.message)")
        }
        return nil
    }

    /// Deletes untagged manifests as registry:2 does (the revision link and the tags' history
    /// of it), and Berth's referrer link; one linked again since the mark is kept. Returns
    /// those deleted.
    func deleteManifests(
        _ digests: [Digest], of name: RepositoryName, cutoff: Double
    ) async throws
        -> (name: RepositoryName, digests: Set<Digest>)
    {
        var deleted: Set<Digest> = []
        let tags = try await storage.listIfPresent(layout.tags(name)).compactMap { try? Tag($0) }
        for digest in digests {
            let link = layout.revisionLink(name, digest)
            guard let info = try? await storage.driver.stat(link), info.modified < cutoff else { continue }
            logger.info("deleting manifest: \(link.dropLast("/link".count))")
            for tag in tags {
                let history = layout.tagIndexLink(name, tag, digest)
                guard try await storage.exists(history) else { continue }
                logger.info("deleting manifest tag reference: \(history.dropLast("/link".count))")
                try await storage.deleteLink(history)
            }
            if let bytes = try? await storage.driver.getContent(layout.blobData(digest)),
                let subject = (try? ManifestReferences(bytes: bytes))?.subject
            {
                try await storage.deleteLink(layout.referrerLink(name, subject: subject, digest))
            }
            try await storage.unlink(name, digest, as: .manifest)
            deleted.insert(digest)
        }
        return (name, deleted)
    }
}
