import OCI
import Testing

@Suite struct DigestTests {
    @Test func parsesSha256AndSha512() throws {
        let hex256 = String(repeating: "a", count: 64)
        let d = try Digest(parsing: "sha256:\(hex256)")
        #expect(d.algorithm == .sha256 && d.hex == hex256)
        #expect(d.description == "sha256:\(hex256)")
        let d512 = try Digest(parsing: "sha512:" + String(repeating: "0", count: 128))
        #expect(d512.algorithm == .sha512)
    }

    @Test(arguments: [
        "", "sha256", "sha256:", "sha256:abc", "sha256:" + String(repeating: "A", count: 64),
        "sha256:" + String(repeating: "g", count: 64), "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha512:" + String(repeating: "a", count: 64), "SHA256:" + String(repeating: "a", count: 64),
    ])
    func rejectsMalformed(_ text: String) {
        #expect(throws: RegistryError.self) { try Digest(parsing: text) }
        do {
            _ = try Digest(parsing: text)
        } catch {
            #expect(error.code == .digestInvalid)
        }
    }

    @Test func computesKnownValues() {
        #expect(
            Digest.of(Array("hello".utf8)).description
                == "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        #expect(
            Digest.of([UInt8](), algorithm: .sha512).hex.hasPrefix("cf83e1357eefb8bdf1542850d66d8007"))
    }

    @Test func incrementalHashingEqualsOneShot() {
        let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var hasher = DigestHasher(.sha256)
        for chunk in stride(from: 0, to: bytes.count, by: 4096) {
            hasher.update(Array(bytes[chunk..<min(chunk + 4096, bytes.count)]))
        }
        #expect(hasher.finalize() == Digest.of(bytes))
    }
}
