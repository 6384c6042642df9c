public import OCI

/// A `/v2/` request target parsed once into typed values (house rule 8). Repository names
/// contain `/`, so the grammar is read from the end of the path.
public enum Route: Equatable, Sendable {
    case base
    case catalog
    case tags(RepositoryName)
    case manifest(RepositoryName, ManifestReference)
    case blob(RepositoryName, Digest)
    case uploads(RepositoryName)
    case upload(RepositoryName, UploadIDText)
    case referrers(RepositoryName, Digest)

    /// Upload ids are checked by the registry (an unknown id is `BLOB_UPLOAD_UNKNOWN`, not a
    /// routing error), so the route keeps the text.
    public struct UploadIDText: Equatable, Sendable {
        public let value: String
    }

    /// The repository the route is about, or nil for `/v2/` and `_catalog`.
    public var repositoryName: RepositoryName? {
        switch self {
        case .base, .catalog: nil
        case .tags(let name), .manifest(let name, _), .blob(let name, _), .uploads(let name), .upload(let name, _),
            .referrers(let name, _):
            name
        }
    }

    /// Parses a path that starts with `/v2`. Returns nil for a path outside the API; throws an
    /// OCI error for a malformed name, reference or digest. Works on the path's bytes: every
    /// request is parsed, and character-wise string work was a fifth of a manifest GET's cost.
    public init?(path: String) throws(RegistryError) {
        let bytes = path.utf8
        guard bytes.starts(with: "/v2".utf8) else { return nil }
        let rest = path.utf8.dropFirst(3)
        if rest.isEmpty || rest.elementsEqual("/".utf8) {
            self = .base
            return
        }
        guard rest.first == UInt8(ascii: "/") else { return nil }
        let body = rest.dropFirst()
        if body.elementsEqual("_catalog".utf8) {
            self = .catalog
            return
        }
        var parts = body.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        let trailingSlash = parts.last?.isEmpty == true
        if trailingSlash { parts.removeLast() }
        let n = parts.count
        func part(_ index: Int, is word: String) -> Bool { parts[index].elementsEqual(word.utf8) }
        func text(_ index: Int) -> String { String(Substring(parts[index])).percentDecoded() }
        /// The name is the first `count` components, as they stand in the path.
        func name(_ count: Int) throws(RegistryError) -> RepositoryName {
            try RepositoryName(String(Substring(body[body.startIndex..<parts[count - 1].endIndex])))
        }
        if n >= 3, part(n - 2, is: "tags"), part(n - 1, is: "list") {
            self = .tags(try name(n - 2))
        } else if n >= 3, part(n - 2, is: "blobs"), part(n - 1, is: "uploads") {
            self = .uploads(try name(n - 2))
        } else if trailingSlash {
            return nil
        } else if n >= 4, part(n - 3, is: "blobs"), part(n - 2, is: "uploads") {
            self = .upload(try name(n - 3), UploadIDText(value: text(n - 1)))
        } else if n >= 3, part(n - 2, is: "manifests") {
            self = .manifest(try name(n - 2), try ManifestReference(text(n - 1)))
        } else if n >= 3, part(n - 2, is: "blobs") {
            self = .blob(try name(n - 2), try Digest(parsing: text(n - 1)))
        } else if n >= 3, part(n - 2, is: "referrers") {
            self = .referrers(try name(n - 2), try Digest(parsing: text(n - 1)))
        } else {
            return nil
        }
    }
}

/// The reference of a manifest path. Text that is neither a digest nor a valid tag names no
/// manifest: reads of it answer `404 MANIFEST_UNKNOWN` (as clients and the conformance suite
/// expect of e.g. `.INVALID_MANIFEST_NAME`), a push to it `400 TAG_INVALID`.
public enum ManifestReference: Equatable, Sendable {
    case valid(Reference)
    case invalidTag(String)

    /// A malformed digest (the text has a `:`) is still `400 DIGEST_INVALID`.
    init(_ text: String) throws(RegistryError) {
        if text.utf8.contains(UInt8(ascii: ":")) {
            self = .valid(.digest(try Digest(parsing: text)))
        } else if let tag = try? Tag(text) {
            self = .valid(.tag(tag))
        } else {
            self = .invalidTag(text)
        }
    }

    func forReading() throws(RegistryError) -> Reference {
        switch self {
        case .valid(let reference):
            return reference
        case .invalidTag(let text):
            throw RegistryError(
                .manifestUnknown, "manifest unknown: \"\(text.prefix(140))\" is not a valid tag",
                detail: ["Tag": String(text.prefix(140))])
        }
    }

    func forWriting() throws(RegistryError) -> Reference {
        switch self {
        case .valid(let reference): reference
        case .invalidTag(let text): .tag(try Tag(text))
        }
    }
}

/// A request target split into path and decoded query parameters.
public struct RequestTarget: Sendable {
    public let path: String
    public let query: [String: String]

    public init(_ uri: String) {
        guard let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else {
            path = uri
            query = [:]
            return
        }
        path = String(Substring(uri.utf8[..<mark]))
        var query: [String: String] = [:]
        for pair in uri.utf8[uri.utf8.index(after: mark)...].split(separator: UInt8(ascii: "&")) {
            let kv = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(Substring(kv[0])).percentDecoded(plusAsSpace: true)
            // The first value wins, as Go's url.Values.Get does.
            if query[key] == nil {
                query[key] = kv.count > 1 ? String(Substring(kv[1])).percentDecoded(plusAsSpace: true) : ""
            }
        }
        self.query = query
    }
}

extension String {
    /// Decodes `%XX` escapes (skopeo sends `sha256%3A…`); malformed escapes are kept as they are.
    func percentDecoded(plusAsSpace: Bool = false) -> String {
        guard utf8.contains(UInt8(ascii: "%")) || (plusAsSpace && utf8.contains(UInt8(ascii: "+"))) else {
            return self
        }
        var out: [UInt8] = []
        let bytes = Array(utf8)
        var i = 0
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x41...0x46: c - 0x41 + 10
            case 0x61...0x66: c - 0x61 + 10
            default: nil
            }
        }
        while i < bytes.count {
            if bytes[i] == 0x25, i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(plusAsSpace && bytes[i] == 0x2b ? 0x20 : bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Escapes a query value for a `Link` or `Location` header.
    func queryEscaped() -> String {
        var out = ""
        for byte in utf8 {
            switch byte {
            case 0x30...0x39, 0x41...0x5a, 0x61...0x7a, 0x2d, 0x2e, 0x5f, 0x7e, 0x2f:
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }

    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
