import BerthRegistry
import BerthStorage
import Foundation
import Logging
import NIOCore
import OCI
import Testing

/// The namespace seam: a routed namespace claims some repositories, serves their reads, and
/// keeps clients from writing there; every other repository stays local and pushable.
@Suite struct RepositoryRouterTests {
    /// Claims `upstream.test/…` names and any name asked for with `ns=upstream.test`; serves
    /// one manifest for every reference.
    struct FixedNamespace: RoutedNamespace {
        let bytes = Array(#"{"schemaVersion":2}"#.utf8)
        var readOnlyReason: String? { "it is mirrored from upstream.test" }

        func claims(_ name: RepositoryName, ns: String?) -> Bool {
            name.value.hasPrefix("upstream.test/") || ns == "upstream.test"
        }
        func manifest(_ name: RepositoryName, _ reference: Reference) async throws -> StoredManifest {
            StoredManifest(digest: Digest.of(bytes), mediaType: MediaType.ociManifest, bytes: bytes)
        }
        func blob(_ name: RepositoryName, _ digest: Digest, download: Bool) async throws -> BlobInfo {
            throw RegistryError(.blobUnknown)
        }
        func content(
            _ name: RepositoryName, _ blob: BlobInfo, from offset: Int64, length: Int64, download: Bool
        ) async throws
            -> BlobContent
        {
            throw RegistryError(.blobUnknown)
        }
        func tags(_ name: RepositoryName, after last: String?, limit: Int?) async throws -> [String] { ["fixed"] }
        func referrers(_ name: RepositoryName, of digest: Digest, artifactType: String?) async throws -> [Descriptor] {
            []
        }
    }

    let registry: Registry

    init() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-router-\(UUID())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var options = Registry.Options()
        options.holdManifests = true
        registry = Registry(
            driver: FilesystemDriver(root: root), options: options, logger: Logger(label: "test"),
            routed: [FixedNamespace()])
    }

    @Test func claimedNamesAreReadFromTheirNamespace() async throws {
        let mirrored = registry.repository(try RepositoryName("upstream.test/library/alpine"))
        #expect(try await mirrored.tags() == ["fixed"])
        let byNS = registry.repository(try RepositoryName("library/alpine"), ns: "upstream.test")
        #expect(try await byNS.manifest(.tag(try Tag("3"))).mediaType == MediaType.ociManifest)
    }

    @Test func claimedNamesAreReadOnly() async throws {
        let mirrored = registry.repository(try RepositoryName("upstream.test/library/alpine"))
        do {
            _ = try await mirrored.startUpload()
            Issue.record("a push to a mirrored repository was accepted")
        } catch let error as RegistryError {
            #expect(error.code == .denied && error.message.contains("mirrored from upstream.test"))
        }
    }

    @Test func otherNamesStayLocal() async throws {
        // An unknown `ns` is no reason to send a request anywhere: the repository is local.
        let local = registry.repository(try RepositoryName("team/app"), ns: "elsewhere.test")
        await #expect(throws: RegistryError.self) { try await local.tags() }
        let id = try await local.startUpload()
        let bytes = Array("layer".utf8)
        let blob = try await local.finishUpload(
            id, digest: Digest.of(bytes),
            body: AsyncStream<ByteBuffer> {
                $0.yield(ByteBuffer(bytes: bytes))
                $0.finish()
            })
        #expect(try await local.blob(blob.digest).size == 5)
    }

    /// What the event loop answers is local only: a name asked for through a mirror (here with
    /// containerd's `ns`) is never answered immediately, even where the same name is local.
    @Test func immediateAnswersAreForLocalNamesOnly() async throws {
        let name = try RepositoryName("library/alpine")
        let local = registry.repository(name)
        var descriptors: [String] = []
        for bytes in [Array("{}".utf8), Array("layer".utf8)] {
            let blob = try await local.finishUpload(
                try await local.startUpload(), digest: Digest.of(bytes), body: [ByteBuffer(bytes: bytes)].async)
            descriptors.append(
                #"{"mediaType":"application/octet-stream","digest":"\#(blob.digest)","size":\#(bytes.count)}"#)
        }
        let manifest = Array(
            #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":\#(descriptors[0]),"layers":[\#(descriptors[1])]}"#
                .utf8)
        let digest = try await local.putManifest(.tag(try Tag("3")), bytes: manifest, contentType: nil).digest
        _ = try await local.manifest(.digest(digest))
        #expect(registry.manifestDigestImmediately(name, .digest(digest)) == digest)
        #expect(registry.manifestDigestImmediately(name, ns: "upstream.test", .digest(digest)) == nil)
    }
}
