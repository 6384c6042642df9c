import BerthAPI
import BerthHTTP
import CoreMetrics
import Synchronization

/// Requests by route, method and status, their latency by route and method, and bytes in and
/// out by route, from each request's access record. Metrics are made once per label set and
/// kept, so a request costs a dictionary look-up under a lock and the increments.
final class RequestMetrics: Sendable {
    private struct Key: Hashable {
        let route: String
        let method: String
        let status: UInt
    }

    private struct Measures: @unchecked Sendable {  // swift-metrics types are thread-safe
        let requests: Counter
        let latency: Timer
        let bytesIn: Counter
        let bytesOut: Counter
    }

    private let factory: any MetricsFactory
    private let measures = Mutex<[Key: Measures]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    func record(_ record: AccessRecord) {
        let key = Key(route: RegistryAPI.routeLabel(path: record.uri), method: record.method, status: record.status)
        let found = measures.withLock { known in
            if let found = known[key] { return found }
            let labels = [("route", key.route), ("method", key.method)]
            let made = Measures(
                requests: Counter(
                    label: "berth_http_requests_total", dimensions: labels + [("status", String(key.status))],
                    factory: factory),
                latency: Timer(
                    label: "berth_http_request_duration_seconds", dimensions: labels, preferredDisplayUnit: .seconds,
                    factory: factory),
                bytesIn: Counter(label: "berth_http_request_bytes_total", dimensions: labels, factory: factory),
                bytesOut: Counter(label: "berth_http_response_bytes_total", dimensions: labels, factory: factory))
            known[key] = made
            return made
        }
        found.requests.increment()
        found.latency.recordNanoseconds(Int64(record.durationMilliseconds * 1_000_000))
        if record.bytesIn > 0 { found.bytesIn.increment(by: record.bytesIn) }
        if record.bytesOut > 0 { found.bytesOut.increment(by: record.bytesOut) }
    }
}
