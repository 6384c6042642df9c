public import BerthHTTP
public import BerthRegistry
internal import NIOCore
internal import NIOHTTP1
internal import Synchronization

/// The debug listener (`http.debug.addr`), apart from the API so that operators can keep it
/// off the network clients reach: registry:2's `/debug/health`, a readiness answer for load
/// balancers and Kubernetes, and the pages the API also serves (`/debug/mirror`).
///
/// It stays up while the API drains after SIGTERM (it is shut down after the API server), so
/// that readiness can say "not ready" for the whole drain and a balancer stops sending traffic
/// before connections are refused.
public struct DebugAPI: HTTPResponder {
    let registry: Registry
    let draining: Draining
    let pages: [String: @Sendable () async -> String]
    /// `http.debug.prometheus`: its path, and the page in Prometheus's text format.
    let metrics: (path: String, page: @Sendable () -> [UInt8])?

    public init(
        registry: Registry, draining: Draining, pages: [String: @Sendable () async -> String] = [:],
        metrics: (path: String, page: @Sendable () -> [UInt8])? = nil
    ) {
        self.registry = registry
        self.draining = draining
        self.pages = pages
        self.metrics = metrics
    }

    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        guard request.method == .GET || request.method == .HEAD else {
            return answer(.methodNotAllowed, #"{"error":"only GET and HEAD are served here"}"#)
        }
        let path = String(request.uri.prefix { $0 != "?" })
        switch path {
        case "/debug/health":
            do {
                try await registry.checkStorage()
                return answer(.ok, "{}")
            } catch {
                return answer(.serviceUnavailable, "{\"storagedriver_\(registry.storageName)\":\"\(error)\"}")
            }
        case "/debug/ready":
            return draining.isDraining
                ? answer(.serviceUnavailable, #"{"ready":false,"reason":"draining"}"#) : answer(.ok, #"{"ready":true}"#)
        default:
            if let metrics, path == metrics.path {
                return HTTPResponse(
                    status: .ok, headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8"],
                    body: .bytes(ByteBuffer(bytes: metrics.page())))
            }
            if let page = pages[path] { return answer(.ok, await page()) }
            return answer(.notFound, #"{"error":"no such page"}"#)
        }
    }

    private func answer(_ status: HTTPResponseStatus, _ json: String) -> HTTPResponse {
        HTTPResponse(
            status: status, headers: ["Content-Type": "application/json; charset=utf-8"],
            body: .bytes(ByteBuffer(string: json)))
    }
}

/// Whether the registry is shutting down: set once graceful shutdown begins, never cleared.
public final class Draining: Sendable {
    private let state = Atomic<Bool>(false)

    public init() {}

    public var isDraining: Bool { state.load(ordering: .relaxed) }

    public func begin() { state.store(true, ordering: .relaxed) }
}
