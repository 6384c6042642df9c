import OCI
import Testing

/// The saved SHA-256 state must be registry:2's own format, byte for byte, so that an upload
/// can move between replicas and between Berth and registry:2 on one store.
@Suite struct SavedHashStateTests {
    // Captured from registry:2 2.8.2 (Debian's docker-registry) on the filesystem driver: the
    // files `_uploads/<id>/hashstates/sha256/<offset>` after a PATCH of bytes 0…99, then one of
    // "berth" × 30.
    static let first = Array(0..<100).map { UInt8($0) }
    static let second = Array(String(repeating: "berth", count: 30).utf8)
    static let registry2After100 =
        "73686103fc99a2df88f42a7a7bb9d18033cdc6a20256755f9d5b9a5044a9cc315abe84a7404142434445464748494a4b4c4d4e4f505152"
        + "535455565758595a5b5c5d5e5f60616263000000000000000000000000000000000000000000000000000000000000000000000064"
    static let registry2After250 =
        "73686103934c24783dc9cd15c2432db4e901fac7a2ba10a59ad020c85fd2af98340213737274686265727468626572746862657274"
        + "686265727468626572746862657274686265727468626572746862657274686265727468626572746800000000000000000000000000fa"
    static let registry2Empty =
        "736861036a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19" + String(repeating: "0", count: 144)

    @Test func savesTheStateAsRegistry2Does() {
        var hasher = DigestHasher(.sha256)
        #expect(hex(hasher.savedState) == Self.registry2Empty)
        hasher.update(Self.first)
        #expect(hex(hasher.savedState) == Self.registry2After100)
        hasher.update(Self.second)
        #expect(hex(hasher.savedState) == Self.registry2After250)
    }

    @Test func resumesRegistry2sStateAndFinishesTheSameDigest() throws {
        var resumed = try #require(DigestHasher(resuming: bytes(Self.registry2After100), covering: 100))
        resumed.update(Self.second)
        #expect(resumed.finalize() == Digest.of(Self.first + Self.second))
        #expect(hex(resumed.savedState) == Self.registry2After250)
    }

    @Test(arguments: [0, 1, 55, 63, 64, 65, 127, 128, 4096, 100_001])
    func resumesItsOwnStateAtAnyOffset(_ split: Int) throws {
        let bytes = (0..<(split + 777)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        var before = DigestHasher(.sha256)
        before.update(Array(bytes[..<split]))
        let saved = try #require(before.savedState)
        #expect(saved.count == 108)
        var after = try #require(DigestHasher(resuming: saved, covering: Int64(split)))
        after.update(Array(bytes[split...]))
        #expect(after.finalize() == Digest.of(bytes))
    }

    /// Past 512 MiB OpenSSL's bit count overflows its low 32-bit word; the byte count saved and
    /// restored must still be the whole length (as registry:2 reads it).
    @Test(arguments: [UInt64(1) << 29, (1 << 29) + 1, 5 << 30 | 3, 1 << 40 | 63] as [UInt64])
    func keepsByteCountsPastFourGigabits(_ count: UInt64) throws {
        var state = bytes(Self.registry2After100)
        let pending = Int(count % 64)
        for i in 0..<64 { state[36 + i] = i < pending ? UInt8(i + 1) : 0 }
        for i in 0..<8 { state[100 + i] = UInt8(truncatingIfNeeded: count >> (8 * (7 - UInt64(i)))) }
        let resumed = try #require(DigestHasher(resuming: state, covering: Int64(count)))
        #expect(resumed.savedState == state)
    }

    @Test func refusesAStateForOtherBytesOrOfAnotherShape() {
        let state = bytes(Self.registry2After100)
        #expect(DigestHasher(resuming: state, covering: 99) == nil)  // covers 100, not 99
        #expect(DigestHasher(resuming: Array(state.dropLast()), covering: 100) == nil)
        var sha224 = state
        sha224[3] = 0x02  // Go's SHA-224 magic
        #expect(DigestHasher(resuming: sha224, covering: 100) == nil)
        #expect(DigestHasher(.sha512).savedState == nil)
    }

    private func hex(_ bytes: [UInt8]?) -> String {
        (bytes ?? []).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
            .joined()
    }

    private func bytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map {
            UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)!
        }
    }
}
