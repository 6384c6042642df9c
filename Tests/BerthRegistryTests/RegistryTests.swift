import BerthCache
import BerthRegistry
import BerthStorage
import Foundation
import Logging
import NIOCore
import OCI
import Testing

/// The registry domain over a real filesystem driver in a temporary directory.
@Suite struct RegistryTests {
    let root: String
    let registry: Registry
    let name = try! RepositoryName("team/app")
    var app: Repository { registry.repository(name) }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-reg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var options = Registry.Options()
        options.deleteEnabled = true
        // With the cache `berth serve` has by default, so that every test here would see a
        // read the cache answers wrongly.
        registry = Registry(
            driver: FilesystemDriver(root: root), cache: InMemoryDescriptorCache(), options: options,
            logger: Logger(label: "test"))
    }

    func body(_ bytes: [UInt8], chunk: Int = 1000) -> [ByteBuffer] {
        stride(from: 0, to: bytes.count, by: chunk).map { ByteBuffer(bytes: bytes[$0..<min($0 + chunk, bytes.count)]) }
    }

    func push(_ bytes: [UInt8], to repository: RepositoryName? = nil) async throws -> Digest {
        let repo = repository ?? name
        let id = try await registry.repository(repo).startUpload()
        let digest = Digest.of(bytes)
        _ = try await registry.repository(repo).finishUpload(id, digest: digest, body: body(bytes).async)
        return digest
    }

    func file(_ path: String) -> String? {
        (try? String(contentsOfFile: root + "/docker/registry/v2/" + path, encoding: .utf8))
    }

    @Test func uploadBecomesBlobOnlyWithMatchingDigest() async throws {
        let bytes = Array("some layer".utf8)
        let digest = try await push(bytes)
        let blob = try await app.blob(digest)
        #expect(blob.size == Int64(bytes.count))
        #expect(file("repositories/team/app/_layers/sha256/\(digest.hex)/link") == digest.description)
        #expect(file("blobs/sha256/\(digest.hex.prefix(2))/\(digest.hex)/data") == "some layer")

        let id = try await app.startUpload()
        let wrong = Digest.of(Array("other".utf8))
        await #expect(throws: RegistryError.self) {
            _ = try await app.finishUpload(id, digest: wrong, body: body(bytes).async)
        }
        await #expect(throws: RegistryError.self) { try await app.blob(wrong) }
        // The failed upload is gone.
        await #expect(throws: RegistryError.self) { try await app.uploadSize(id) }
    }

    @Test func aBlobPushedAgainKeepsTheStoredFile() async throws {
        let bytes = Array("shared layer".utf8)
        let digest = try await push(bytes)
        let data = root + "/docker/registry/v2/blobs/sha256/\(digest.hex.prefix(2))/\(digest.hex)/data"
        let inode = try #require(try FileManager.default.attributesOfItem(atPath: data)[.systemFileNumber] as? Int)
        let other = try RepositoryName("team/other")
        _ = try await push(bytes, to: other)
        // Not renamed over: the same file serves both repositories, and the second upload is gone.
        #expect(try FileManager.default.attributesOfItem(atPath: data)[.systemFileNumber] as? Int == inode)
        #expect(try await registry.repository(other).blob(digest).size == Int64(bytes.count))
        #expect(
            try FileManager.default.contentsOfDirectory(
                atPath: root + "/docker/registry/v2/repositories/team/other/_uploads"
            ).isEmpty)
    }

    @Test func chunksMustContinueTheUpload() async throws {
        let id = try await app.startUpload()
        #expect(try await app.appendUpload(id, body: body([1, 2, 3]).async, expectedOffset: 0) == 3)
        do {
            _ = try await app.appendUpload(id, body: body([4]).async, expectedOffset: 0)
            Issue.record("accepted an out-of-order chunk")
        } catch let error as RegistryError {
            #expect(error.code == .rangeInvalid && error.condition == .uploadHolds(size: 3))
        }
        #expect(try await app.appendUpload(id, body: body([4]).async, expectedOffset: 3) == 4)
    }

    /// A new Registry has no hash state in memory: as after a restart, or on another replica.
    func anotherInstance() -> Registry {
        Registry(driver: FilesystemDriver(root: root), logger: Logger(label: "test"))
    }

    @Test func anotherInstanceGoesOnFromTheStoredHashState() async throws {
        let id = try await app.startUpload()
        _ = try await app.appendUpload(id, body: body(Array(repeating: 1, count: 20_000)).async)
        let statePath = root + RegistryLayout().uploadHashState(name, id, offset: 20_000)
        #expect(FileManager.default.fileExists(atPath: statePath))
        // Swap the stored state for that of other bytes of the same length: only an instance
        // that hashes on from the stored state, rather than reading the upload back, arrives
        // at their digest.
        var forged = DigestHasher(.sha256)
        forged.update(Array(repeating: 2, count: 20_000))
        try Data(try #require(forged.savedState)).write(to: URL(fileURLWithPath: statePath))
        let rest = Array(repeating: UInt8(3), count: 30_000)
        let other = anotherInstance().repository(name)
        _ = try await other.appendUpload(id, body: body(rest).async)
        let digest = Digest.of(Array(repeating: 2, count: 20_000) + rest)
        let blob = try await other.finishUpload(id, digest: digest, body: [ByteBuffer]().async)
        #expect(blob.size == 50_000)
    }

    @Test func uploadContinuedWithoutAStoredHashStateIsRehashed() async throws {
        let bytes = (0..<50_000).map { UInt8(truncatingIfNeeded: $0) }
        let id = try await app.startUpload()
        _ = try await app.appendUpload(id, body: body(Array(bytes[..<20_000])).async)
        // As when a replica died between storing the bytes and their hash state.
        try FileManager.default.removeItem(atPath: root + RegistryLayout().upload(name, id) + "/hashstates")
        let other = anotherInstance().repository(name)
        _ = try await other.appendUpload(id, body: body(Array(bytes[20_000...])).async)
        let blob = try await other.finishUpload(id, digest: Digest.of(bytes), body: [ByteBuffer]().async)
        #expect(blob.size == 50_000)
        #expect(!FileManager.default.fileExists(atPath: root + RegistryLayout().upload(name, id)))
    }

    @Test func sha512Uploads() async throws {
        let bytes = Array("five-twelve".utf8)
        let id = try await app.startUpload()
        let digest = Digest.of(bytes, algorithm: .sha512)
        _ = try await app.finishUpload(id, digest: digest, body: body(bytes).async)
        #expect(try await app.blob(digest).size == Int64(bytes.count))
    }

    func manifestBytes(layers: [Digest], config: Digest, extra: String = "") -> [UInt8] {
        let l = layers.map { #"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#($0)","size":1}"# }
        return Array(
            #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(config)","size":2},"layers":[\#(l.joined(separator: ","))]\#(extra)}"#
                .utf8)
    }

    @Test func manifestsTagsAndDeletion() async throws {
        let config = try await push(Array("{}".utf8))
        let layer = try await push(Array("L".utf8))
        let bytes = manifestBytes(layers: [layer], config: config)
        let pushed = try await app.putManifest(.tag(try Tag("v1")), bytes: bytes, contentType: nil)
        #expect(pushed.digest == Digest.of(bytes))
        #expect(file("repositories/team/app/_manifests/tags/v1/current/link") == pushed.digest.description)
        #expect(file("repositories/team/app/_manifests/tags/v1/index/sha256/\(pushed.digest.hex)/link") != nil)
        #expect(try await app.manifest(.tag(try Tag("v1"))).bytes == bytes)
        _ = try await app.putManifest(.tag(try Tag("v2")), bytes: bytes, contentType: nil)
        #expect(try await app.tags() == ["v1", "v2"])
        #expect(try await app.tags(after: "v1") == ["v2"])
        #expect(try await app.tags(limit: 1) == ["v1"])

        try await app.deleteManifest(.digest(pushed.digest))
        #expect(try await app.tags() == [])
        await #expect(throws: RegistryError.self) { try await app.manifest(.digest(pushed.digest)) }
    }

    @Test func manifestWithMissingBlobIsRefused() async throws {
        let config = try await push(Array("{}".utf8))
        let bytes = manifestBytes(layers: [Digest.of([9, 9])], config: config)
        do {
            _ = try await app.putManifest(.tag(try Tag("v1")), bytes: bytes, contentType: nil)
            Issue.record("accepted a manifest with an unknown layer")
        } catch let error as RegistryError {
            #expect(error.code == .manifestBlobUnknown)
        }
    }

    @Test func referrersAreIndexedBySubject() async throws {
        let config = try await push(Array("{}".utf8))
        let subject = Digest.of([1])
        let extra =
            #","artifactType":"application/x.sig","subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(subject)","size":1}"#
        let bytes = manifestBytes(layers: [], config: config, extra: extra)
        let pushed = try await app.putManifest(.digest(Digest.of(bytes)), bytes: bytes, contentType: nil)
        #expect(pushed.subject == subject)
        let found = try await app.referrers(of: subject)
        #expect(found.map(\.digestText) == [pushed.digest.description])
        #expect(found.first?.artifactType == "application/x.sig")
        #expect(try await app.referrers(of: subject, artifactType: "other").isEmpty)
    }

    @Test func catalogWalksRepositories() async throws {
        for repo in ["b/one", "a", "c/d/e"] { _ = try await push([1], to: try RepositoryName(repo)) }
        #expect(try await registry.repositories(limit: 10) == ["a", "b/one", "c/d/e"])
        #expect(try await registry.repositories(after: "a", limit: 1) == ["b/one"])
    }

    @Test func readOnlyRefusesChanges() async throws {
        var options = Registry.Options()
        options.readOnly = true
        let readOnly = Registry(driver: FilesystemDriver(root: root), options: options, logger: Logger(label: "test"))
        await #expect(throws: RegistryError.self) { try await readOnly.repository(name).startUpload() }
    }
}

extension Array where Element == ByteBuffer {
    /// The buffers as an async sequence, like a request body.
    var async: AsyncStream<ByteBuffer> {
        AsyncStream { continuation in
            for buffer in self { continuation.yield(buffer) }
            continuation.finish()
        }
    }
}
