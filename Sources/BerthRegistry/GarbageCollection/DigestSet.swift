public import OCI

/// A set of digests that costs what the digests are: a SHA-256 digest is kept as its 32 bytes
/// (four words), not as a 64-character string, so that garbage collection of a store with
/// millions of blobs holds its marks in tens of megabytes. SHA-512 digests, rare, are kept as
/// they are.
public struct DigestSet: Sendable, Sequence {
    private var sha256: Set<Words> = []
    private var others: Set<Digest> = []

    public init() {}

    public init(_ digests: some Sequence<Digest>) {
        for digest in digests { insert(digest) }
    }

    public var count: Int { sha256.count + others.count }
    public var isEmpty: Bool { count == 0 }

    /// Inserts the digest; true when it was not in the set yet.
    @discardableResult
    public mutating func insert(_ digest: Digest) -> Bool {
        if let words = Words(digest) { return sha256.insert(words).inserted }
        return others.insert(digest).inserted
    }

    public mutating func remove(_ digest: Digest) {
        if let words = Words(digest) { sha256.remove(words) } else { others.remove(digest) }
    }

    public func contains(_ digest: Digest) -> Bool {
        if let words = Words(digest) { return sha256.contains(words) }
        return others.contains(digest)
    }

    public func makeIterator() -> some IteratorProtocol<Digest> {
        var words = sha256.makeIterator()
        var rest = others.makeIterator()
        return AnyIterator { words.next().map(\.digest) ?? rest.next() }
    }

    /// A SHA-256 digest as four 64-bit words, parsed from its hex.
    private struct Words: Hashable, Sendable {
        let a: UInt64, b: UInt64, c: UInt64, d: UInt64

        init?(_ digest: Digest) {
            guard digest.algorithm == .sha256 else { return nil }
            var words: [UInt64] = []
            words.reserveCapacity(4)
            var word: UInt64 = 0
            for (index, byte) in digest.hex.utf8.enumerated() {
                // The hex is lower-case and checked by `Digest`.
                word = word << 4 | UInt64(byte <= 0x39 ? byte - 0x30 : byte - 0x61 + 10)
                if index % 16 == 15 {
                    words.append(word)
                    word = 0
                }
            }
            (a, b, c, d) = (words[0], words[1], words[2], words[3])
        }

        var digest: Digest {
            let hex = [a, b, c, d].map { word in
                let text = String(word, radix: 16)
                return String(repeating: "0", count: 16 - text.count) + text
            }.joined()
            // Sixty-four lower-case hex digits always make a digest.
            return try! Digest(algorithm: .sha256, hex: hex)
        }
    }
}
