#if canImport(Glibc)
    import Glibc
#endif

/// HTTP dates as S3 sends them in `Last-Modified` (the IMF-fixdate of RFC 9110,
/// `Sun, 06 Nov 1994 08:49:37 GMT`), read by hand: making a `DateFormatter` costs about half a
/// millisecond of CPU, more than the HEAD whose answer it would read, and every `stat` on S3
/// (a push's blob checks, each blob a collection looks at) reads one.
enum HTTPDate {
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Seconds since 1970; nil for anything that is not an IMF-fixdate.
    static func seconds(_ text: Substring) -> Double? {
        let fields = text.split(separator: " ")
        guard fields.count == 6, fields[0].hasSuffix(","), fields[5] == "GMT",
            let day = Int(fields[1]), (1...31).contains(day),
            let month = months.firstIndex(of: String(fields[2])),
            let year = Int(fields[3]), year >= 1970
        else { return nil }
        let clock = fields[4].split(separator: ":", omittingEmptySubsequences: false).compactMap { Int($0) }
        guard clock.count == 3, (0...23).contains(clock[0]), (0...59).contains(clock[1]), (0...60).contains(clock[2])
        else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(clock[0])
        parts.tm_min = Int32(clock[1])
        parts.tm_sec = Int32(clock[2])
        return Double(timegm(&parts))
    }
}
