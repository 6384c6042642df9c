import AsyncHTTPClient
import BerthCache
import BerthConfig
import BerthRegistry
import BerthStorage
import Foundation
import Logging
import NIOCore
import OCI
import Testing

@testable import BerthUpstream

/// Expiry over a real filesystem driver: what the usage records say decides, local
/// repositories and content still in use stay, and nothing else survives its TTL or the cap.
@Suite struct MirrorExpiryTests {
    let root: String
    let driver: FilesystemDriver
    let cache: MirrorCache
    let local: Registry
    let app = try! RepositoryName("up.test/team/app")
    let now = 1_000_000.0

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-expiry-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        driver = FilesystemDriver(root: root)
        // One descriptor cache for both, as `berth serve` has: what expiry removes must be
        // forgotten by the registry's reads too.
        let descriptors = InMemoryDescriptorCache()
        cache = MirrorCache(driver: driver, cache: descriptors, logger: Logger(label: "test"))
        local = Registry(driver: driver, cache: descriptors, options: Registry.Options(), logger: Logger(label: "test"))
    }

    func expiry(ttl: Duration = .seconds(100), maxSize: Int64? = nil, inUse: Duration = .seconds(10)) -> MirrorExpiry {
        var upstream = Configuration.Upstream(name: "up", url: "http://127.0.0.1:1")
        upstream.prefixes = ["up.test"]
        upstream.ttl = ttl
        upstream.maxSize = maxSize
        let namespace = MirrorNamespace(
            upstream: upstream, local: [], allPrefixes: ["up.test"], cache: cache, http: HTTPClient.shared,
            logger: Logger(label: "test"))
        return MirrorExpiry(namespaces: [namespace], cache: cache, inUse: inUse, logger: Logger(label: "test"))
    }

    /// A blob in the mirror's cache, last used at `used`.
    @discardableResult
    func cached(_ bytes: [UInt8], in name: RepositoryName? = nil, used: Double) async throws -> Digest {
        let digest = Digest.of(bytes)
        let staging = cache.newStagingPath()
        var hasher: DigestHasher? = DigestHasher(.sha256)
        let body = AsyncStream<ByteBuffer> {
            $0.yield(ByteBuffer(bytes: bytes))
            $0.finish()
        }
        let size = try await cache.stage(body, to: staging, hasher: &hasher) { _ in }
        _ = try await cache.commit(staging, size: size, hasher: hasher, as: digest, into: name ?? app)
        try await cache.usage.touch("up", digest, .blob, size: size, resolution: 0, now: used)
        return digest
    }

    func manifest(_ layers: [Digest], tag: String, used: Double) async throws -> Digest {
        let config = try await cached(Array("{}".utf8), used: used)
        let descriptors = layers.map {
            #"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#($0)","size":1}"#
        }
        let text =
            #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(config)","size":2},"layers":[\#(descriptors.joined(separator: ","))]}"#
        let bytes = Array(text.utf8)
        let digest = Digest.of(bytes)
        _ = try await cache.store(manifest: bytes, as: digest, in: app, tag: try Tag(tag))
        try await cache.usage.touch("up", digest, .manifest, size: Int64(bytes.count), resolution: 0, now: used)
        return digest
    }

    func exists(_ digest: Digest) -> Bool {
        FileManager.default.fileExists(atPath: root + RegistryLayout().blobData(digest))
    }

    @Test func contentUnusedForItsTTLGoesAndRecentContentStays() async throws {
        let old = try await cached(Array(repeating: 1, count: 100), used: now - 200)
        let recent = try await cached(Array(repeating: 2, count: 100), used: now - 50)
        let evicted = try await expiry().sweep(now: now)
        #expect(evicted["up"] == MirrorExpiry.Evicted(count: 1, bytes: 100))
        #expect(!exists(old) && exists(recent))
        #expect(try await cache.blob(app, old) == nil)
        #expect(try await cache.usage.record("up", old) == nil)
    }

    @Test func aTTLOfZeroKeepsContent() async throws {
        let old = try await cached(Array(repeating: 1, count: 100), used: now - 1e9)
        try await expiry(ttl: .zero).sweep(now: now)
        #expect(exists(old))
    }

    @Test func theSizeCapEvictsLeastRecentlyUsedFirst() async throws {
        let a = try await cached(Array(repeating: 1, count: 400), used: now - 30)
        let b = try await cached(Array(repeating: 2, count: 400), used: now - 20)
        let c = try await cached(Array(repeating: 3, count: 400), used: now - 10)
        let evicted = try await expiry(maxSize: 900).sweep(now: now)
        #expect(evicted["up"]?.count == 1)
        #expect(!exists(a) && exists(b) && exists(c))
    }

    @Test func localRepositoriesKeepTheirBytes() async throws {
        let bytes = Array(repeating: UInt8(7), count: 300)
        let shared = try await cached(bytes, used: now - 500)
        // The same blob pushed to a local repository.
        let mine = try RepositoryName("team/mine")
        let id = try await local.repository(mine).startUpload()
        let body = AsyncStream<ByteBuffer> {
            $0.yield(ByteBuffer(bytes: bytes))
            $0.finish()
        }
        _ = try await local.repository(mine).finishUpload(id, digest: shared, body: body)
        try await expiry().sweep(now: now)
        #expect(try await cache.blob(app, shared) == nil)  // gone from the mirror's repository
        #expect(exists(shared))  // still the local repository's
        #expect(try await local.repository(mine).blob(shared).size == 300)
    }

    @Test func blobsOfAManifestInUseStayWhateverTheirAge() async throws {
        let layer = try await cached(Array(repeating: 4, count: 500), used: now - 500)
        let other = try await cached(Array(repeating: 5, count: 500), used: now - 400)
        let image = try await manifest([layer], tag: "v1", used: now - 1)
        try await expiry(maxSize: 100).sweep(now: now)
        #expect(exists(layer) && exists(image))
        #expect(!exists(other))
        // Once the manifest is old too, all of it goes, tag included.
        try await expiry(maxSize: 100).sweep(now: now + 500)
        #expect(!exists(layer) && !exists(image))
        #expect(try await cache.tagDigest(app, try Tag("v1")) == nil)
        #expect(try await local.repositories(limit: 100).isEmpty)  // the emptied repository left the catalog
    }

    @Test func contentWithoutARecordStartsItsAgeAtTheSweep() async throws {
        let blob = try await cached(Array(repeating: 6, count: 10), used: now)
        try await cache.usage.remove("up", blob)
        try await expiry().sweep(now: now)
        #expect(try await cache.usage.record("up", blob)?.used == now)
        #expect(exists(blob))
    }

    /// At start-up beside other replicas, a fetch's staged objects go only when the newest of
    /// them is idle: a long download on S3 (one object per segment) keeps its first segments.
    @Test func stagingLeftByACrashGoesAndADownloadInProgressStays() async throws {
        let staging = "/docker/registry/v2/_berth/mirror-staging"
        let old = Date().addingTimeInterval(-7200)
        for name in ["dead", "live.segment.1", "live.segment.2", "gone.segment.1"] {
            try await driver.putContent("\(staging)/\(name)", [1])
        }
        for name in ["dead", "live.segment.1", "gone.segment.1"] {
            try FileManager.default.setAttributes(
                [.modificationDate: old], ofItemAtPath: "\(root)\(staging)/\(name)")
        }
        try await cache.removeStaging(idle: 3600)
        #expect(try await driver.list(staging) == ["live.segment.1", "live.segment.2"])
    }
}
