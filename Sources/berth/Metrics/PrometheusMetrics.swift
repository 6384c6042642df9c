import CoreMetrics
import Prometheus

/// The metrics `http.debug.prometheus` serves: one registry for this process, handed to each
/// part as a factory (no global `MetricsSystem`), and its text page.
struct PrometheusMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    /// Brought up to date before each scrape (the mirror's counters).
    var exporters: [@Sendable () -> Void] = []

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Registry answers take from a tenth of a millisecond (a manifest) to minutes (a
        // large blob): finer buckets at the low end than the library's default.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        self.factory = factory
    }

    /// The Prometheus text exposition format.
    func page() -> [UInt8] {
        for export in exporters { export() }
        return registry.emitToBuffer()
    }
}
