internal import CLibcrypto

/// A SHA-256 computation in progress whose state can be saved and picked up again, by this
/// process or another, in the format registry:2 stores at `_uploads/<id>/hashstates/sha256/`
/// (Go's `crypto/sha256` `MarshalBinary`):
///
///     "sha\x03" | h0…h7 (big-endian UInt32) | the unhashed tail of the last block, zero-padded
///     to 64 bytes | bytes hashed so far (big-endian UInt64)
///
/// 108 bytes. OpenSSL does the hashing (with the CPU's SHA extensions where it has them).
struct SHA256State: Sendable {
    static let marshalledSize = 108
    private static let magic: [UInt8] = Array("sha\u{03}".utf8)
    private static let blockSize = 64

    private var context = SHA256_CTX()

    init() {
        SHA256_Init(&context)
    }

    /// The bytes hashed so far (OpenSSL counts bits, in two 32-bit halves).
    var count: UInt64 { (UInt64(context.Nh) << 32 | UInt64(context.Nl)) >> 3 }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        SHA256_Update(&context, base, bytes.count)
    }

    func finalize() -> [UInt8] {
        var copy = context
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        digest.withUnsafeMutableBufferPointer { _ = SHA256_Final($0.baseAddress, &copy) }
        return digest
    }

    /// The state in registry:2's format.
    var marshalled: [UInt8] {
        var out = Self.magic
        out.reserveCapacity(Self.marshalledSize)
        withUnsafeBytes(of: context.h) { words in
            for i in 0..<8 {
                out.append(contentsOf: Self.bigEndian(UInt64(words.load(fromByteOffset: 4 * i, as: UInt32.self)), 4))
            }
        }
        let pending = Int(context.num)
        withUnsafeBytes(of: context.data) { out.append(contentsOf: $0.prefix(pending)) }
        out.append(contentsOf: repeatElement(0, count: Self.blockSize - pending))
        out.append(contentsOf: Self.bigEndian(count, 8))
        return out
    }

    /// A state saved by `marshalled` (or by registry:2); nil for anything else.
    init?(marshalled bytes: [UInt8]) {
        guard bytes.count == Self.marshalledSize, bytes.starts(with: Self.magic) else { return nil }
        SHA256_Init(&context)
        let count = Self.integer(bytes[100..<108])
        // The length's high bits would not fit OpenSSL's bit counter; no upload is that large.
        guard count < 1 << 61 else { return nil }
        withUnsafeMutableBytes(of: &context.h) { words in
            for i in 0..<8 {
                let word = UInt32(Self.integer(bytes[4 + 4 * i..<8 + 4 * i]))
                words.storeBytes(of: word, toByteOffset: 4 * i, as: UInt32.self)
            }
        }
        let pending = Int(count % UInt64(Self.blockSize))
        withUnsafeMutableBytes(of: &context.data) { data in
            data.copyBytes(from: bytes[36..<36 + pending])
        }
        context.num = UInt32(pending)
        context.Nl = UInt32(truncatingIfNeeded: count << 3)
        context.Nh = UInt32(truncatingIfNeeded: count >> 29)
    }

    private static func bigEndian(_ value: UInt64, _ width: Int) -> [UInt8] {
        (0..<width).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    private static func integer(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}
