public import CoreMetrics

/// What the API counts itself: authorization decisions, and upload requests in progress. The
/// per-request counts and latencies come from the access record (`RequestMetrics` in `berth`),
/// labelled with `RegistryAPI.routeLabel`.
public struct APIMetrics: Sendable {
    let granted: Counter
    let challenged: Counter
    let denied: Counter
    let uploadsInProgress: Meter

    public init(factory: any MetricsFactory) {
        func decision(_ result: String) -> Counter {
            Counter(label: "berth_auth_decisions_total", dimensions: [("result", result)], factory: factory)
        }
        granted = decision("granted")
        challenged = decision("challenged")
        denied = decision("denied")
        uploadsInProgress = Meter(label: "berth_uploads_in_progress", factory: factory)
    }

    /// Counts nothing (metrics not served).
    public static let none = APIMetrics(factory: NOOPMetricsHandler.instance)

    func uploadStarted() { uploadsInProgress.increment() }
    func uploadEnded() { uploadsInProgress.decrement() }

    func count(_ decision: Authorization) {
        switch decision {
        case .granted: granted.increment()
        case .refused(let failure): (failure.challenge == nil ? denied : challenged).increment()
        }
    }
}

extension RegistryAPI {
    /// A route's name for metrics, from the request path: few values whatever the names and
    /// digests (`manifest`, `blob`, `blob_upload`, `tags`, `referrers`, `catalog`, `base`,
    /// `health`, `other`).
    public static func routeLabel(path: String) -> String {
        let path = path.prefix { $0 != "?" }
        if path == "/debug/health" { return "health" }
        guard let route = try? Route(path: String(path)) else { return "other" }
        switch route {
        case .base: return "base"
        case .catalog: return "catalog"
        case .tags: return "tags"
        case .manifest: return "manifest"
        case .blob: return "blob"
        case .uploads, .upload: return "blob_upload"
        case .referrers: return "referrers"
        }
    }
}
