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

@Suite struct RequiredAccessTests {
    let name = try! RepositoryName("team/app")
    let digest = "sha256:" + String(repeating: "a", count: 64)

    func access(_ method: HTTPMethod, _ path: String, _ query: [String: String] = [:]) throws -> [String] {
        try #require(try Route(path: path)).requiredAccess(method, query: query).map(\.description)
    }

    @Test func asRegistry2AsksForIt() throws {
        #expect(try access(.GET, "/v2/team/app/manifests/v1") == ["repository:team/app:pull"])
        #expect(try access(.HEAD, "/v2/team/app/blobs/\(digest)") == ["repository:team/app:pull"])
        #expect(try access(.GET, "/v2/team/app/tags/list") == ["repository:team/app:pull"])
        #expect(try access(.PUT, "/v2/team/app/manifests/v1") == ["repository:team/app:pull,push"])
        #expect(try access(.POST, "/v2/team/app/blobs/uploads/") == ["repository:team/app:pull,push"])
        #expect(try access(.PATCH, "/v2/team/app/blobs/uploads/abc") == ["repository:team/app:pull,push"])
        #expect(try access(.DELETE, "/v2/team/app/manifests/\(digest)") == ["repository:team/app:delete"])
        #expect(try access(.GET, "/v2/_catalog") == ["registry:catalog:*"])
        #expect(try access(.GET, "/v2/").isEmpty)
    }

    @Test func aMountNeedsPullOnItsSource() throws {
        let mount = ["mount": digest, "from": "other/base"]
        #expect(
            try access(.POST, "/v2/team/app/blobs/uploads/", mount) == [
                "repository:team/app:pull,push", "repository:other/base:pull",
            ])
        // Without from there is no mount (an upload starts), so nothing more is needed.
        #expect(
            try access(.POST, "/v2/team/app/blobs/uploads/", ["mount": digest]) == ["repository:team/app:pull,push"])
    }
}

/// Lets anyone pull `team/open`, and refuses everything else with a challenge; remembers what
/// it was asked.
final class PullOnlyAuthorizer: Authorizer, @unchecked Sendable {
    private let lock = NSLock()
    private var asked: [[String]] = []

    var requests: [[String]] { lock.withLock { asked } }

    func authorize(_ request: HTTPRequest, access: [Access]) async -> Authorization {
        lock.withLock { asked.append(access.map(\.description)) }
        if access.allSatisfy({ $0.name == "team/open" && $0.actions == [.pull] }) { return .granted(.anonymous) }
        let scope = access.map(\.description).joined(separator: " ")
        return .refused(
            AuthorizationFailure(
                RegistryError(.unauthorized, "authentication required"),
                challenge: #"Bearer realm="https://auth.example/token",service="test",scope="\#(scope)""#))
    }
}

/// The authorization step as the API runs it: before any handler, for every route.
@Suite(.serialized) struct AuthorizationStepTests {
    func withAPI(_ authorizer: PullOnlyAuthorizer, _ body: (Int, String) async throws -> Void) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-auth-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let registry = Registry(driver: FilesystemDriver(root: root), options: .init(), logger: Logger(label: "test"))
        var options = RegistryAPI.Options()
        options.authorizer = authorizer
        let api = RegistryAPI(registry: registry, options: options, logger: Logger(label: "test"))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), responder: api,
            logger: Logger(label: "test")
        ) { address in continuation.yield(address.port ?? 0) }
        let task = Task { try await server.run() }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        defer { task.cancel() }
        try await body(port, root)
    }

    @Test func aGrantedRequestReachesItsHandler() async throws {
        let authorizer = PullOnlyAuthorizer()
        try await withAPI(authorizer) { port, _ in
            let out = try await curl(["http://127.0.0.1:\(port)/v2/team/open/tags/list"])
            #expect(out.hasPrefix("HTTP/1.1 404"), "\(out)")
            #expect(out.contains("NAME_UNKNOWN"))
            #expect(authorizer.requests == [["repository:team/open:pull"]])
        }
    }

    @Test func aRefusedRequestGetsTheChallengeAndChangesNothing() async throws {
        let authorizer = PullOnlyAuthorizer()
        try await withAPI(authorizer) { port, root in
            let out = try await curl(["-X", "POST", "http://127.0.0.1:\(port)/v2/team/open/blobs/uploads/"])
            #expect(out.hasPrefix("HTTP/1.1 401"), "\(out)")
            #expect(out.contains(#"scope="repository:team/open:pull,push""#))
            #expect(out.contains("UNAUTHORIZED"))
            // No handler ran: no upload was started.
            #expect(!FileManager.default.fileExists(atPath: root + "/docker/registry/v2/repositories/team/open"))
            let catalog = try await curl(["http://127.0.0.1:\(port)/v2/_catalog"])
            #expect(catalog.hasPrefix("HTTP/1.1 401") && catalog.contains("registry:catalog:*"))
            // The health check stays outside the registry API's access rules, as in registry:2.
            #expect(try await curl(["http://127.0.0.1:\(port)/debug/health"]).hasPrefix("HTTP/1.1 200"))
        }
    }
}
