internal import OCI

/// A single `Range: bytes=…` request against content of a known size.
struct ByteRange: Equatable {
    let start: Int64
    let end: Int64  // inclusive

    var length: Int64 { end - start + 1 }

    /// Parses a `Range` header. Returns nil when the whole content should be sent (no header, a
    /// unit other than bytes, several ranges — all of which RFC 9110 lets a server ignore).
    /// Throws `RANGE_INVALID` (416) when the range cannot be satisfied.
    static func parse(_ header: String?, size: Int64) throws(RegistryError) -> ByteRange? {
        guard let header, header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let spec = header.dropFirst(6)
        guard let dash = spec.firstIndex(of: "-") else { throw unsatisfiable(header, size) }
        let first = spec[..<dash]
        let last = spec[spec.index(after: dash)...]
        let range: ByteRange
        if first.isEmpty {
            guard let suffix = Int64(last), suffix > 0 else { throw unsatisfiable(header, size) }
            range = ByteRange(start: max(size - suffix, 0), end: size - 1)
        } else {
            guard let start = Int64(first), start >= 0 else { throw unsatisfiable(header, size) }
            let end = last.isEmpty ? size - 1 : Int64(last).map { min($0, size - 1) }
            guard let end, start <= end, start < size else { throw unsatisfiable(header, size) }
            range = ByteRange(start: start, end: end)
        }
        guard range.start <= range.end else { throw unsatisfiable(header, size) }
        return range
    }

    private static func unsatisfiable(_ header: String, _ size: Int64) -> RegistryError {
        RegistryError(
            .rangeInvalid, "range \(header.prefix(100)) cannot be satisfied for \(size) bytes",
            condition: .outsideBlob(size: size))
    }
}

/// A `Content-Range` on an upload chunk: `<start>-<end>`, as the distribution spec writes it
/// (also accepted with a `bytes ` or `bytes=` prefix).
struct ChunkRange: Equatable {
    let start: Int64
    let end: Int64

    static func parse(_ header: String) throws(RegistryError) -> ChunkRange {
        var text = Substring(header)
        for prefix in ["bytes ", "bytes="] where text.hasPrefix(prefix) { text = text.dropFirst(prefix.count) }
        if let slash = text.firstIndex(of: "/") { text = text[..<slash] }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Int64(parts[0]), let end = Int64(parts[1]), start >= 0, end >= start
        else {
            throw RegistryError(.rangeInvalid, "invalid Content-Range \(header.prefix(100)): expected <start>-<end>")
        }
        return ChunkRange(start: start, end: end)
    }
}

extension ChunkRange {
    /// registry:2's `Range` value for an upload of `size` bytes: `0-<last byte>`, `0-0` when
    /// empty (no `bytes=` prefix).
    static func header(uploadSize size: Int64) -> String {
        "0-\(max(size - 1, 0))"
    }
}
