internal import Crypto
internal import Foundation

/// Credentials an S3 request is signed with: `storage.s3.accesskey`/`secretkey`, or
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
public struct S3Credentials: Sendable {
    public let accessKey: String
    public let secretKey: String
    public let sessionToken: String?

    public init(accessKey: String, secretKey: String, sessionToken: String? = nil) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
    }
}

/// AWS Signature Version 4, as S3 takes it: in an `Authorization` header, or in the query of a
/// presigned URL. Paths and query values come in raw and are encoded here, once.
struct SigV4: Sendable {
    let credentials: S3Credentials
    let region: String
    var service = "s3"

    /// What a request whose body hashes to `payloadHash` (hex SHA-256, or `UNSIGNED-PAYLOAD`)
    /// must carry: `headers` (which must include `host`) plus `x-amz-date`,
    /// `x-amz-content-sha256`, the session token if any, and `authorization`.
    func signedHeaders(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String,
        date: Date
    ) -> [(String, String)] {
        let stamp = Stamp(date)
        var all = headers
        all.append(("x-amz-date", stamp.time))
        all.append(("x-amz-content-sha256", payloadHash))
        if let token = credentials.sessionToken { all.append(("x-amz-security-token", token)) }
        let canonical = canonicalHeaders(all)
        let request = [
            method, Self.encode(path, keepSlash: true), canonicalQuery(query), canonical.lines, canonical.names,
            payloadHash,
        ].joined(separator: "\n")
        let signature = sign(request, stamp)
        all.append(
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope(stamp)),SignedHeaders=\(canonical.names),Signature=\(signature)"
            ))
        return all
    }

    /// The query of a presigned URL for `method` on `path` at `host`, valid for `expires`
    /// seconds from `date`; encoded, to append after `?`.
    func presignedQuery(
        method: String, host: String, path: String, query: [(String, String)] = [], expires: Int, date: Date
    ) -> String {
        let stamp = Stamp(date)
        var items = query
        items.append(("X-Amz-Algorithm", "AWS4-HMAC-SHA256"))
        items.append(("X-Amz-Credential", "\(credentials.accessKey)/\(scope(stamp))"))
        items.append(("X-Amz-Date", stamp.time))
        items.append(("X-Amz-Expires", String(expires)))
        if let token = credentials.sessionToken { items.append(("X-Amz-Security-Token", token)) }
        items.append(("X-Amz-SignedHeaders", "host"))
        let request = [
            method, Self.encode(path, keepSlash: true), canonicalQuery(items), "host:\(host)\n", "host",
            "UNSIGNED-PAYLOAD",
        ].joined(separator: "\n")
        items.append(("X-Amz-Signature", sign(request, stamp)))
        return canonicalQuery(items)
    }

    /// The date in the two forms SigV4 uses.
    struct Stamp {
        let day: String
        let time: String

        init(_ date: Date) {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            func two(_ n: Int?) -> String { n.map { $0 < 10 ? "0\($0)" : String($0) } ?? "00" }
            day = "\(c.year ?? 1970)\(two(c.month))\(two(c.day))"
            time = "\(day)T\(two(c.hour))\(two(c.minute))\(two(c.second))Z"
        }
    }

    private func scope(_ stamp: Stamp) -> String { "\(stamp.day)/\(region)/\(service)/aws4_request" }

    private func sign(_ canonicalRequest: String, _ stamp: Stamp) -> String {
        let hashed = Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8)))
        let toSign = "AWS4-HMAC-SHA256\n\(stamp.time)\n\(scope(stamp))\n\(hashed)"
        var key = SymmetricKey(data: Array("AWS4\(credentials.secretKey)".utf8))
        for part in [stamp.day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return Self.hex(HMAC<SHA256>.authenticationCode(for: Array(toSign.utf8), using: key))
    }

    /// Header names lowercased and sorted, values trimmed with inner runs of spaces collapsed.
    private func canonicalHeaders(_ headers: [(String, String)]) -> (lines: String, names: String) {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let collapsed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[name.lowercased(), default: []].append(collapsed)
        }
        let names = merged.keys.sorted()
        let lines = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (lines, names.joined(separator: ";"))
    }

    /// Encoded `key=value` pairs sorted by key, then value.
    func canonicalQuery(_ query: [(String, String)]) -> String {
        let encoded: [(key: String, value: String)] = query.map {
            (Self.encode($0.0, keepSlash: false), Self.encode($0.1, keepSlash: false))
        }
        let sorted = encoded.sorted { (a, b) -> Bool in a.key == b.key ? a.value < b.value : a.key < b.key }
        return sorted.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters (and `/` in paths).
    static func encode(_ text: String, keepSlash: Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        let hexDigits = Array("0123456789ABCDEF".unicodeScalars)
        for byte in text.utf8 {
            switch byte {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2D, 0x2E, 0x5F, 0x7E:  // A-Z a-z 0-9 - . _ ~
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case 0x2F where keepSlash:
                out.append("/")
            default:
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hexDigits[Int(byte >> 4)])
                out.unicodeScalars.append(hexDigits[Int(byte & 15)])
            }
        }
        return out
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static let emptyPayloadHash = hex(SHA256.hash(data: [UInt8]()))
}
