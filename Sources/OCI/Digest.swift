internal import Crypto

/// A content address: `algorithm:hex`, as it appears in paths, headers and manifests.
///
/// Only the algorithms the OCI spec registers are accepted (sha256, sha512); anything else is
/// `DIGEST_INVALID` so that no unverifiable name ever reaches storage.
public struct Digest: Hashable, Sendable, CustomStringConvertible, Comparable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case sha256
        case sha512

        /// Length of the lower-case hex encoding.
        public var hexLength: Int { self == .sha256 ? 64 : 128 }
    }

    public let algorithm: Algorithm
    public let hex: String

    public init(algorithm: Algorithm, hex: String) throws(RegistryError) {
        guard hex.utf8.count == algorithm.hexLength,
            hex.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else {
            throw RegistryError(.digestInvalid, "invalid \(algorithm.rawValue) digest: \(hex.prefix(140))")
        }
        self.algorithm = algorithm
        self.hex = hex
    }

    public init(parsing text: String) throws(RegistryError) {
        // Byte-wise: digests are parsed on every request, and character-wise search is slow.
        let bytes = text.utf8
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else {
            throw RegistryError(.digestInvalid, "invalid digest \(Self.quoted(text)): expected algorithm:hex")
        }
        let name = bytes[..<colon]
        let algorithm: Algorithm
        if name.elementsEqual("sha256".utf8) {
            algorithm = .sha256
        } else if name.elementsEqual("sha512".utf8) {
            algorithm = .sha512
        } else {
            // The grammar allows other algorithms, but we cannot verify them.
            throw RegistryError(.digestInvalid, "unsupported digest algorithm \(Self.quoted(String(Substring(name))))")
        }
        try self.init(algorithm: algorithm, hex: String(Substring(bytes[bytes.index(after: colon)...])))
    }

    public var description: String { "\(algorithm.rawValue):\(hex)" }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    /// The digest of bytes already in memory (manifests, small test blobs).
    public static func of<Bytes: Sequence>(_ bytes: Bytes, algorithm: Algorithm = .sha256) -> Digest
    where Bytes.Element == UInt8 {
        var hasher = DigestHasher(algorithm)
        hasher.update(Array(bytes))
        return hasher.finalize()
    }

    static func quoted(_ text: String) -> String { "\"\(text.prefix(140))\"" }
}

/// Incremental hashing with hardware-backed implementations: SHA-256 through OpenSSL, whose
/// state can be saved and resumed (`SHA256State`), SHA-512 through swift-crypto.
public struct DigestHasher: Sendable {
    private enum State: Sendable {
        case sha256(SHA256State)
        case sha512(SHA512)
    }
    private var state: State
    public let algorithm: Digest.Algorithm

    public init(_ algorithm: Digest.Algorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .sha256: state = .sha256(SHA256State())
        case .sha512: state = .sha512(SHA512())
        }
    }

    /// Resumes a SHA-256 computation from a `savedState` (this process's or another's, or
    /// registry:2's), if that state covers exactly `count` bytes; nil otherwise.
    public init?(resuming saved: [UInt8], covering count: Int64) {
        guard let resumed = SHA256State(marshalled: saved), count >= 0, resumed.count == UInt64(count) else {
            return nil
        }
        algorithm = .sha256
        state = .sha256(resumed)
    }

    /// The state of a SHA-256 computation in registry:2's format (see `SHA256State`); nil for
    /// SHA-512, whose state is never saved.
    public var savedState: [UInt8]? {
        guard case .sha256(let h) = state else { return nil }
        return h.marshalled
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .sha256(var h):
            h.update(bytes)
            state = .sha256(h)
        case .sha512(var h):
            h.update(bufferPointer: bytes)
            state = .sha512(h)
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func finalize() -> Digest {
        let hex: String
        switch state {
        case .sha256(let h): hex = Self.hex(h.finalize())
        case .sha512(let h): hex = Self.hex(h.finalize())
        }
        // The hex comes from a hash function of the right length, so it always parses.
        return try! Digest(algorithm: algorithm, hex: hex)
    }

    private static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        let table = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(128)
        for b in bytes {
            out.append(table[Int(b >> 4)])
            out.append(table[Int(b & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
