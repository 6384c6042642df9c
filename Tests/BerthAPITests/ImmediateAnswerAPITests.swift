import BerthHTTP
import BerthRegistry
import BerthStorage
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OCI
import Testing

@testable import BerthAPI

/// Manifest pulls answered on the event loop: only once the usual path has served the digest,
/// with the very response it gave, and never where authorization would have to run first.
@Suite(.serialized) struct ImmediateAnswerAPITests {
    let name = try! RepositoryName("team/app")

    func makeRegistry() throws -> Registry {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-now-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var options = Registry.Options()
        options.holdManifests = true
        return Registry(driver: FilesystemDriver(root: root), options: options, logger: Logger(label: "test"))
    }

    /// Pushes a one-layer image tagged `v1`; returns the manifest's digest.
    func pushImage(_ registry: Registry) async throws -> Digest {
        let repository = registry.repository(name)
        var descriptors: [String] = []
        for bytes in [Array("{}".utf8), Array("layer".utf8)] {
            let blob = try await repository.finishUpload(
                try await repository.startUpload(), digest: Digest.of(bytes),
                body: AsyncStream {
                    $0.yield(ByteBuffer(bytes: bytes))
                    $0.finish()
                })
            descriptors.append(
                #"{"mediaType":"application/octet-stream","digest":"\#(blob.digest)","size":\#(bytes.count)}"#)
        }
        let manifest = Array(
            #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":\#(descriptors[0]),"layers":[\#(descriptors[1])]}"#
                .utf8)
        return try await repository.putManifest(.tag(try Tag("v1")), bytes: manifest, contentType: nil).digest
    }

    @Test func theImmediateAnswerIsTheResponseTheUsualPathGave() async throws {
        let registry = try makeRegistry()
        let digest = try await pushImage(registry)
        let api = RegistryAPI(registry: registry, options: .init(), logger: Logger(label: "test"))
        #expect(api.answersImmediately)
        let get = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/v2/team/app/manifests/v1")
        #expect(api.respondImmediately(to: get) == nil)  // not served yet

        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.immediateResponder = api
        configuration.extraHeaders = [RegistryAPI.versionHeader]
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = HTTPServer(configuration: configuration, responder: api, logger: Logger(label: "test")) {
            continuation.yield($0.port ?? 0)
        }
        let task = Task { try await server.run() }
        defer { task.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0

        let url = "http://127.0.0.1:\(port)/v2/team/app/manifests/v1"
        let usual = try await curl([url])
        #expect(usual.hasPrefix("HTTP/1.1 200 OK") && usual.contains("Docker-Content-Digest: \(digest)"))
        #expect(api.respondImmediately(to: get) != nil)
        #expect(try await curl([url]) == usual)
        #expect(try await curl(["-I", url]) == (usual.components(separatedBy: "\r\n\r\n").first ?? "") + "\r\n\r\n")
        let byDigest = try await curl(["http://127.0.0.1:\(port)/v2/team/app/manifests/\(digest)"])
        #expect(byDigest == usual)
    }

    @Test func nothingIsAnsweredImmediatelyWhenPullsNeedAuthorization() async throws {
        let registry = try makeRegistry()
        var options = RegistryAPI.Options()
        options.authorizer = PullOnlyAuthorizer()
        #expect(!RegistryAPI(registry: registry, options: options, logger: Logger(label: "test")).answersImmediately)
        // Nor without held manifests (no in-memory cache).
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-now-\(UUID().uuidString)").path
        let plain = Registry(driver: FilesystemDriver(root: root), logger: Logger(label: "test"))
        #expect(!RegistryAPI(registry: plain, options: .init(), logger: Logger(label: "test")).answersImmediately)
    }
}
