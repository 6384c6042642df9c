import BerthCache
import BerthRegistry
import BerthStorage
import Foundation
import Logging
import NIOCore
import OCI
import Testing

/// The descriptor cache in front of storage: each process's own writes and deletes keep it
/// current, and what another process on the same data directory changes is still seen where
/// it must be (tags, new links).
@Suite struct DescriptorCacheTests {
    let root: String
    /// Two processes on one data directory, each with its own in-memory cache.
    let first: Registry
    let second: Registry
    let name = try! RepositoryName("team/app")

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-cache-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var options = Registry.Options()
        options.deleteEnabled = true
        options.holdManifests = true
        first = Registry(
            driver: FilesystemDriver(root: root), cache: InMemoryDescriptorCache(), options: options,
            logger: Logger(label: "test"))
        second = Registry(
            driver: FilesystemDriver(root: root), cache: InMemoryDescriptorCache(), options: options,
            logger: Logger(label: "test"))
    }

    func push(_ bytes: [UInt8], through registry: Registry, to repository: RepositoryName? = nil) async throws -> Digest
    {
        let target = registry.repository(repository ?? name)
        let id = try await target.startUpload()
        return try await target.finishUpload(id, digest: Digest.of(bytes), body: [ByteBuffer(bytes: bytes)].async)
            .digest
    }

    func image(through registry: Registry, layer: String, tag: String) async throws -> Digest {
        let config = try await push(Array("{}".utf8), through: registry)
        let layerDigest = try await push(Array(layer.utf8), through: registry)
        let bytes = Array(
            #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(config)","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#(layerDigest)","size":1}]}"#
                .utf8)
        return try await registry.repository(name).putManifest(.tag(try Tag(tag)), bytes: bytes, contentType: nil)
            .digest
    }

    @Test func aTagMovedByAnotherProcessIsSeenAtOnce() async throws {
        let v1 = try await image(through: first, layer: "one", tag: "latest")
        #expect(try await first.repository(name).manifest(.tag(try Tag("latest"))).digest == v1)
        #expect(try await second.repository(name).manifest(.tag(try Tag("latest"))).digest == v1)
        let v2 = try await image(through: second, layer: "two", tag: "latest")
        #expect(v2 != v1)
        #expect(try await first.repository(name).manifest(.tag(try Tag("latest"))).digest == v2)
    }

    @Test func aLinkMadeByAnotherProcessIsSeenAfterAMiss() async throws {
        let digest = try await push(Array("layer".utf8), through: first, to: try RepositoryName("other/repo"))
        // Not linked into `name` yet: a miss, which the cache does not keep.
        await #expect(throws: RegistryError.self) { try await first.repository(name).blob(digest) }
        _ = try await push(Array("layer".utf8), through: second)
        #expect(try await first.repository(name).blob(digest).size == 5)
    }

    @Test func ownDeletesAreForgotten() async throws {
        let manifest = try await image(through: first, layer: "gone", tag: "v1")
        let layer = Digest.of(Array("gone".utf8))
        let app = first.repository(name)
        // Warm every entry a pull reads.
        _ = try await app.manifest(.digest(manifest))
        _ = try await app.blob(layer)
        _ = try await app.blob(manifest)
        try await app.deleteBlob(layer)
        await #expect(throws: RegistryError.self) { try await app.blob(layer) }
        try await app.deleteManifest(.digest(manifest))
        await #expect(throws: RegistryError.self) { try await app.manifest(.digest(manifest)) }
        await #expect(throws: RegistryError.self) { try await app.manifest(.tag(try Tag("v1"))) }
        await #expect(throws: RegistryError.self) { try await app.blob(manifest) }
    }

    /// What the cache is for: a warm pull does not ask storage whether a link is there. (So a
    /// link removed behind the registry's back, as by hand, is noticed once the entry is
    /// forgotten — the same as registry:2 with its in-memory cache.)
    @Test func aWarmLinkIsAnsweredFromTheCache() async throws {
        let digest = try await push(Array("cached".utf8), through: first)
        _ = try await first.repository(name).blob(digest)
        try FileManager.default.removeItem(
            atPath: root + "/docker/registry/v2/repositories/team/app/_layers/sha256/\(digest.hex)")
        #expect(try await first.repository(name).blob(digest).size == 6)
        await #expect(throws: RegistryError.self) { try await second.repository(name).blob(digest) }
    }

    // MARK: immediate answers (what the event loop answers manifest pulls with)

    @Test func aManifestIsAnsweredImmediatelyOnlyOncePulledHere() async throws {
        let latest = try Tag("latest")
        let v1 = try await image(through: first, layer: "one", tag: "latest")
        #expect(first.manifestDigestImmediately(name, .tag(latest)) == nil)
        #expect(first.manifestDigestImmediately(name, .digest(v1)) == nil)
        _ = try await first.repository(name).manifest(.tag(latest))
        #expect(first.manifestDigestImmediately(name, .tag(latest)) == v1)
        #expect(first.manifestDigestImmediately(name, .digest(v1)) == v1)
        // Held per repository, and only by the process that pulled it.
        #expect(first.manifestDigestImmediately(try RepositoryName("team/other"), .digest(v1)) == nil)
        #expect(second.manifestDigestImmediately(name, .digest(v1)) == nil)
    }

    @Test func aTagMovedByAnotherProcessIsAnsweredAtOnce() async throws {
        let latest = try Tag("latest")
        let v1 = try await image(through: first, layer: "one", tag: "latest")
        _ = try await first.repository(name).manifest(.tag(latest))
        #expect(first.manifestDigestImmediately(name, .tag(latest)) == v1)
        // Moved elsewhere to a manifest this process never pulled: no immediate answer, so the
        // usual path reads the new one.
        let v2 = try await image(through: second, layer: "two", tag: "latest")
        #expect(first.manifestDigestImmediately(name, .tag(latest)) == nil)
        #expect(try await first.repository(name).manifest(.tag(latest)).digest == v2)
        #expect(first.manifestDigestImmediately(name, .tag(latest)) == v2)
        // Moved back (Berth writes a new file and renames it over the link).
        _ = try await second.repository(name).putManifest(
            .tag(latest), bytes: try await second.repository(name).manifest(.digest(v1)).bytes, contentType: nil)
        #expect(first.manifestDigestImmediately(name, .tag(latest)) == v1)
        // Rewritten in place, as registry:2 writes links.
        let link = root + "/docker/registry/v2/repositories/team/app/_manifests/tags/latest/current/link"
        let handle = try #require(FileHandle(forWritingAtPath: link))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(v2.description.utf8))
        try handle.close()
        #expect(first.manifestDigestImmediately(name, .tag(latest)) == v2)
        // Deleted elsewhere.
        try await second.repository(name).deleteManifest(.tag(latest))
        #expect(first.manifestDigestImmediately(name, .tag(latest)) == nil)
    }

    @Test func aManifestDeletedHereIsNoLongerAnsweredImmediately() async throws {
        let v1 = try await image(through: first, layer: "one", tag: "v1")
        _ = try await first.repository(name).manifest(.digest(v1))
        #expect(first.manifestDigestImmediately(name, .digest(v1)) == v1)
        try await first.repository(name).deleteManifest(.digest(v1))
        #expect(first.manifestDigestImmediately(name, .digest(v1)) == nil)
        #expect(first.manifestDigestImmediately(name, .tag(try Tag("v1"))) == nil)
    }
}
