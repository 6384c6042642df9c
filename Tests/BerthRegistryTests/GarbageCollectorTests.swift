import BerthCache
import BerthRegistry
import BerthStorage
import Foundation
import Logging
import NIOCore
import OCI
import Testing

/// Garbage collection over a real filesystem driver, with pushes made at the points where a
/// collector running beside the registry could lose them.
@Suite struct GarbageCollectorTests {
    let root: String
    let driver: FilesystemDriver
    let registry: Registry
    let name = try! RepositoryName("team/app")
    var app: Repository { registry.repository(name) }
    /// Two hours on: with the default grace period of one hour, everything here is old enough.
    let later = Date().timeIntervalSince1970 + 7200

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-gc-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        driver = FilesystemDriver(root: root)
        var options = Registry.Options()
        options.deleteEnabled = true
        // The cache `berth serve` has by default: a push must not trust it about blobs a
        // collector (another process) removed.
        registry = Registry(
            driver: driver, cache: InMemoryDescriptorCache(), options: options, logger: Logger(label: "test"))
    }

    func collector(mirrored: Set<String> = [], lines: Lines = Lines()) -> GarbageCollector {
        GarbageCollector(
            driver: driver, cache: NoDescriptorCache(), isMirrored: { mirrored.contains($0.value) },
            output: { lines.append($0) }, logger: Logger(label: "test"))
    }

    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ line: String) { lock.withLock { lines.append(line) } }
        var all: [String] { lock.withLock { lines } }
    }

    func push(_ text: String, to repository: RepositoryName? = nil) async throws -> Digest {
        let bytes = Array(text.utf8)
        let repo = registry.repository(repository ?? name)
        let id = try await repo.startUpload()
        let digest = Digest.of(bytes)
        _ = try await repo.finishUpload(id, digest: digest, body: [ByteBuffer(bytes: bytes)].async)
        return digest
    }

    func image(_ layers: [Digest], config: Digest, extra: String = "") -> [UInt8] {
        let l = layers.map { #"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#($0)","size":1}"# }
        return Array(
            #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(config)","size":2},"layers":[\#(l.joined(separator: ","))]\#(extra)}"#
                .utf8)
    }

    func index(_ children: [[UInt8]]) -> [UInt8] {
        let m = children.map {
            #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(Digest.of($0))","size":\#($0.count)}"#
        }
        return Array(
            #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[\#(m.joined(separator: ","))]}"#
                .utf8)
    }

    func stored(_ digest: Digest) -> Bool {
        FileManager.default.fileExists(atPath: root + RegistryLayout().blobData(digest))
    }

    var options: GarbageCollector.Options { GarbageCollector.Options() }

    @Test func digestSetHoldsWhatItWasGiven() {
        let digests = (0..<500).map { Digest.of(Array("blob \($0)".utf8)) } + [Digest.of([1], algorithm: .sha512)]
        var set = DigestSet(digests)
        #expect(set.count == digests.count)
        let insertedAgain = set.insert(digests[3])
        #expect(!insertedAgain)
        #expect(Set(set) == Set(digests))
        set.remove(digests[0])
        #expect(!set.contains(digests[0]) && set.contains(digests[1]) && set.count == digests.count - 1)
    }

    @Test func keepsWhatManifestsReferenceAndDeletesTheRest() async throws {
        let config = try await push("{}")
        let layer = try await push("layer")
        let orphan = try await push("orphan")
        let manifest = image([layer], config: config)
        _ = try await app.putManifest(.tag(try Tag("v1")), bytes: manifest, contentType: nil)

        let lines = Lines()
        let summary = try await collector(lines: lines).run(options, now: later)
        #expect(summary.deletedBlobs == 1 && summary.eligibleBlobs == 1 && summary.marked == 3)
        #expect(!stored(orphan) && stored(layer) && stored(config) && stored(Digest.of(manifest)))
        #expect(lines.all.contains("team/app: marking manifest \(Digest.of(manifest)) "))
        #expect(lines.all.contains("3 blobs marked, 1 blobs and 0 manifests eligible for deletion"))
        #expect(lines.all.contains("blob eligible for deletion: \(orphan)"))
        // Nothing is left aside.
        #expect(!FileManager.default.fileExists(atPath: root + RegistryLayout().garbageTrash))
    }

    @Test func youngBlobsAndDryRunsDeleteNothing() async throws {
        let orphan = try await push("orphan")
        var dry = options
        dry.dryRun = true
        let summary = try await collector().run(dry, now: later)
        #expect(summary.eligibleBlobs == 1 && summary.deletedBlobs == 0 && stored(orphan))
        // Within the grace period (now), the blob is kept.
        let young = try await collector().run(options)
        #expect(young.keptYoung == 1 && young.eligibleBlobs == 0 && stored(orphan))
    }

    @Test func untaggedGoButChildrenOfATaggedIndexAndReferrersOfAKeptManifestStay() async throws {
        let config = try await push("{}")
        let (a, b, c) = (try await push("a"), try await push("b"), try await push("c"))
        let childA = image([a], config: config)
        let childB = image([b], config: config)
        _ = try await app.putManifest(.digest(Digest.of(childA)), bytes: childA, contentType: nil)
        _ = try await app.putManifest(.digest(Digest.of(childB)), bytes: childB, contentType: nil)
        let list = index([childA, childB])
        _ = try await app.putManifest(.tag(try Tag("multi")), bytes: list, contentType: nil)
        let signature = image(
            [try await push("sig")], config: config,
            extra:
                #","subject":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"\#(Digest.of(list))","size":\#(list.count)}"#
        )
        _ = try await app.putManifest(.digest(Digest.of(signature)), bytes: signature, contentType: nil)
        let untagged = image([c], config: config)
        _ = try await app.putManifest(.digest(Digest.of(untagged)), bytes: untagged, contentType: nil)

        var untaggedToo = options
        untaggedToo.deleteUntagged = true
        let summary = try await collector().run(untaggedToo, now: later)
        #expect(summary.eligibleManifests == 1)
        #expect(!stored(c) && !stored(Digest.of(untagged)))
        for kept in [a, b, Digest.of(childA), Digest.of(childB), Digest.of(list), Digest.of(signature)] {
            #expect(stored(kept))
        }
        await #expect(throws: RegistryError.self) { try await app.manifest(.digest(Digest.of(untagged))) }
        _ = try await app.manifest(.digest(Digest.of(childA)))
        #expect(try await app.referrers(of: Digest.of(list)).map(\.digestText) == ["\(Digest.of(signature))"])
    }

    @Test func mirroredRepositoriesKeepWhatTheyCache() async throws {
        let mirrored = try RepositoryName("docker.io/library/alpine")
        let cached = try await push("cached layer", to: mirrored)
        let summary = try await collector(mirrored: [mirrored.value]).run(options, now: later)
        #expect(summary.eligibleBlobs == 0 && stored(cached))
        // The same store without the mirror configured: nothing references the blob.
        _ = try await collector().run(options, now: later)
        #expect(!stored(cached))
    }

    /// A push whose blobs were set aside, and not put back, fails rather than leave a manifest
    /// without them, though the cache still says they are there; pushed again, it succeeds and
    /// stays whole.
    @Test func aPushAfterBlobsAreSetAsideFailsAndItsRetrySucceeds() async throws {
        let config = try await push("{}")
        let layer = try await push("layer")
        // The layer stays linked in the repository (as an old push leaves it), so the cache and
        // the link say it is there when the manifest comes.
        _ = try await app.blob(layer)
        _ = try await app.blob(config)
        let manifest = image([layer], config: config)
        let app = self.app
        let summary = try await collector().run(options, now: later) { phase in
            guard phase == .decided else { return }
            await #expect(throws: RegistryError.self) {
                _ = try await app.putManifest(.tag(try Tag("v1")), bytes: manifest, contentType: nil)
            }
        }
        #expect(summary.deletedBlobs == 2 && !stored(layer))
        // The failed push left no manifest behind, and its blobs are no longer claimed present.
        await #expect(throws: RegistryError.self) { try await app.manifest(.tag(try Tag("v1"))) }
        await #expect(throws: RegistryError.self) { try await app.blob(layer) }
        _ = try await push("{}")
        _ = try await push("layer")
        _ = try await app.putManifest(.tag(try Tag("v1")), bytes: manifest, contentType: nil)
        #expect(stored(layer) && stored(config))
    }

    /// A push that completes after the mark, before blobs are set aside, keeps them: the second
    /// look finds its manifest and puts them back. Until then it pulls from where they are aside.
    @Test func aPushAfterTheMarkKeepsItsBlobsAndPullsThroughout() async throws {
        let config = try await push("{}")
        let layer = try await push("layer")
        let manifest = image([layer], config: config)
        let app = self.app
        let summary = try await collector().run(options, now: later) { phase in
            switch phase {
            case .marked:
                _ = try await app.putManifest(.tag(try Tag("v1")), bytes: manifest, contentType: nil)
            case .setAside:
                #expect(!stored(layer) && !stored(Digest.of(manifest)))
                #expect(try await app.manifest(.tag(try Tag("v1"))).bytes == manifest)
                let blob = try await app.blob(layer)
                guard case .localFile(let file) = try await app.content(blob) else {
                    Issue.record("a filesystem blob is sent from its file")
                    return
                }
                #expect(FileManager.default.contents(atPath: file) == Data("layer".utf8))
            case .decided:
                break
            }
        }
        #expect(summary.eligibleBlobs == 3 && summary.restoredBlobs == 3 && summary.deletedBlobs == 0)
        #expect(stored(layer) && stored(config))
        _ = try await app.blob(layer)
    }

    @Test func aRunThatStopsHalfWayLosesNothing() async throws {
        let config = try await push("{}")
        let layer = try await push("layer")
        struct Stop: Error {}
        await #expect(throws: Stop.self) {
            _ = try await collector().run(options, now: later) { phase in
                if phase == .setAside { throw Stop() }
            }
        }
        #expect(!stored(layer))
        // The next run (here a dry one would change nothing, so a real one with a young
        // cutoff) first puts back what the stopped run set aside.
        let summary = try await collector().run(options)
        #expect(summary.deletedBlobs == 0 && stored(layer) && stored(config))
        #expect(!FileManager.default.fileExists(atPath: root + RegistryLayout().garbageTrash))
    }

    @Test func badEntriesAreReportedWithTheirPathsAndKept() async throws {
        let config = try await push("{}")
        let layer = try await push("layer")
        let manifest = image([layer], config: config)
        _ = try await app.putManifest(.tag(try Tag("v1")), bytes: manifest, contentType: nil)
        let layout = RegistryLayout()
        // A manifest whose bytes are not JSON, and a tag whose link is garbage.
        let notJSON = Array("not json".utf8)
        try await driver.putContent(layout.blobData(Digest.of(notJSON)), notJSON)
        try await driver.putContent(layout.revisionLink(name, Digest.of(notJSON)), Array("\(Digest.of(notJSON))".utf8))
        try await driver.putContent(layout.tagCurrentLink(name, try Tag("broken")), Array("nonsense".utf8))
        let summary = try await collector().run(options, now: later)
        #expect(summary.problems.count == 2)
        #expect(
            summary.problems.contains {
                $0.hasPrefix(layout.blobData(Digest.of(notJSON))) && $0.contains("not a JSON manifest")
            })
        #expect(summary.problems.contains { $0.hasPrefix(layout.tagCurrentLink(name, try! Tag("broken"))) })
        #expect(stored(Digest.of(notJSON)) && stored(layer) && summary.deletedBlobs == 0)
    }
}
