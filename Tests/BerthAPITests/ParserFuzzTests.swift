import OCI
import Testing

@testable import BerthAPI

/// Every parser that sees client text either answers or throws an OCI error; none may trap
/// (house rule 4). Inputs are built from pieces that have broken parsers before: separators,
/// escapes, huge numbers, non-ASCII.
@Suite struct ParserFuzzTests {
    static let pieces = [
        "/", "//", "v2", "blobs", "uploads", "manifests", "tags", "list", "referrers", "_catalog", "sha256:",
        "sha512:", String(repeating: "a", count: 64), String(repeating: "f", count: 128), "%", "%2F", "%3A", "%zz",
        "..", ".", "-", "_", "__", "A", "é", "\u{0}", " ", "?", "&", "=", "+", "bytes=", "-",
        "9223372036854775807", "99999999999999999999", "0", "-1", ",", "latest", ":",
    ]

    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state
        }
    }

    func randomText(_ rng: inout Generator) -> String {
        (0..<Int.random(in: 1...12, using: &rng)).map { _ in Self.pieces.randomElement(using: &rng)! }.joined()
    }

    @Test func parsersNeverTrap() {
        var rng = Generator(state: 42)
        var parsed = 0
        for _ in 0..<20_000 {
            let text = randomText(&rng)
            if (try? Route(path: "/v2/" + text)) != nil { parsed += 1 }
            _ = RequestTarget("/v2/" + text)
            _ = try? ByteRange.parse(text, size: Int64.random(in: 0...1000, using: &rng))
            _ = try? ChunkRange.parse(text)
            _ = try? Manifest(bytes: Array(text.utf8), contentType: text)
            _ = try? ManifestReference(text).forReading()
        }
        #expect(parsed > 0)  // the generator does reach valid routes, so both paths are exercised
    }
}
