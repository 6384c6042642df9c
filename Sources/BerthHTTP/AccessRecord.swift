#if canImport(Glibc)
    import Glibc
#endif

/// One served request, as the access log records it. The HTTP layer only describes the
/// request; how and where it is written is the application's choice (registry:2 writes its
/// access log to standard output, apart from its other log lines).
public struct AccessRecord: Sendable {
    public let requestID: String
    public let remote: String
    public let method: String
    public let uri: String
    public let version: String
    public let status: UInt
    public let bytesIn: Int64
    public let bytesOut: Int64
    public let durationMilliseconds: Double
    public let referer: String
    public let userAgent: String
    /// Wall-clock time when the request arrived.
    public let received: Double

    /// Seconds since 1970, for `received`.
    static func wallClockNow() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
