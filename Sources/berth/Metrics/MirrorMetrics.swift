import BerthConfig
import BerthUpstream
import CoreMetrics
import Synchronization

/// Each upstream's mirror counters (`UpstreamCounters`, also on `/debug/mirror`) as Prometheus
/// counters. They are carried over when scraped, by what grew since the last scrape, so that
/// the request path keeps bumping only its own counters.
final class MirrorMetrics: Sendable {
    private let namespaces: [MirrorNamespace]
    private let factory: any MetricsFactory
    private let exported = Mutex<[String: [String: Int64]]>([:])

    init(namespaces: [MirrorNamespace], factory: any MetricsFactory) {
        self.namespaces = namespaces
        self.factory = factory
    }

    /// Brings the Prometheus counters up to the mirror's own.
    func export() {
        exported.withLock { exported in
            for namespace in namespaces {
                let upstream = namespace.upstream.name
                for (series, value) in Self.series(namespace.counters.snapshot) {
                    let key = series.label + series.dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
                    let grown = value - exported[upstream, default: [:]][key, default: 0]
                    guard grown > 0 else { continue }
                    Counter(
                        label: series.label, dimensions: [("upstream", upstream)] + series.dimensions, factory: factory
                    ).increment(by: grown)
                    exported[upstream, default: [:]][key] = value
                }
            }
        }
    }

    private typealias Series = (label: String, dimensions: [(String, String)])

    private static func series(_ s: UpstreamCounters.Snapshot) -> [(Series, Int64)] {
        var all: [(Series, Int64)] = [
            (("berth_mirror_lookups_total", [("result", "hit")]), Int64(s.hits)),
            (("berth_mirror_lookups_total", [("result", "miss")]), Int64(s.misses)),
            (("berth_mirror_lookups_total", [("result", "stale")]), Int64(s.staleServes)),
            (("berth_mirror_bytes_total", [("direction", "from_upstream")]), s.bytesFromUpstream),
            (("berth_mirror_bytes_total", [("direction", "to_clients")]), s.bytesToClients),
            (("berth_mirror_coalesced_waiters_total", []), Int64(s.coalescedWaiters)),
            (("berth_mirror_followed_replicas_total", []), Int64(s.followedReplicas)),
            (("berth_mirror_evictions_total", []), Int64(s.evictions)),
            (("berth_mirror_offline_periods_total", []), Int64(s.offlinePeriods)),
        ]
        // "manifest HEAD 200": what was asked, and the answer (a status, or "error").
        for (request, count) in s.requests {
            let answer = request.split(separator: " ").last.map(String.init) ?? ""
            let kind = request.split(separator: " ").dropLast().joined(separator: " ")
            all.append(
                (("berth_mirror_upstream_requests_total", [("request", kind), ("answer", answer)]), Int64(count)))
        }
        return all
    }
}
