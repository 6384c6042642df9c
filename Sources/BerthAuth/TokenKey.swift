internal import Crypto
internal import CryptoExtras
internal import Foundation
internal import JWTKit
internal import SwiftASN1
internal import X509

/// A public key that may sign registry tokens, with the algorithms it may sign with and the
/// two key IDs issuers name it by.
struct TokenKey: Sendable {
    enum Material: Sendable {
        case rsa(_RSA.Signing.PublicKey)
        case p256(P256.Signing.PublicKey)
        case p384(P384.Signing.PublicKey)
        case p521(P521.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)
    }

    let material: Material
    /// The libtrust key ID (registry:2 2.8, docker_auth).
    let libtrustID: String
    /// The RFC 7638 JWK thumbprint (distribution 3).
    let thumbprint: String

    init?(_ key: Certificate.PublicKey) {
        if let rsa = _RSA.Signing.PublicKey(key) {
            material = .rsa(rsa)
        } else if let p256 = P256.Signing.PublicKey(key) {
            material = .p256(p256)
        } else if let p384 = P384.Signing.PublicKey(key) {
            material = .p384(p384)
        } else if let p521 = P521.Signing.PublicKey(key) {
            material = .p521(p521)
        } else if let ed25519 = Curve25519.Signing.PublicKey(key) {
            material = .ed25519(ed25519)
        } else {
            return nil
        }
        // The whole SubjectPublicKeyInfo (`subjectPublicKeyInfoBytes` is only its key bits).
        var der = DER.Serializer()
        guard (try? der.serialize(key)) != nil else { return nil }
        libtrustID = Self.libtrustID(spki: der.serializedBytes)
        guard let thumbprint = Self.thumbprint(material) else { return nil }
        self.thumbprint = thumbprint
    }

    init?(_ material: Material) {
        let key: Certificate.PublicKey
        switch material {
        case .rsa(let k): key = Certificate.PublicKey(k)
        case .p256(let k): key = Certificate.PublicKey(k)
        case .p384(let k): key = Certificate.PublicKey(k)
        case .p521(let k): key = Certificate.PublicKey(k)
        case .ed25519(let k): key = Certificate.PublicKey(k)
        }
        self.init(key)
    }

    /// The `alg` values this key may verify: the key decides the algorithm, so that a token can
    /// never pick a weaker one (no `none`, no HMAC keyed with the public key's bytes).
    var algorithms: Set<String> {
        switch material {
        case .rsa: ["RS256", "RS384", "RS512"]
        case .p256: ["ES256"]
        case .p384: ["ES384"]
        case .p521: ["ES512"]
        case .ed25519: ["EdDSA"]
        }
    }

    /// A jwt-kit key set holding just this key, for `alg`.
    func keys(for alg: String) async throws -> JWTKeyCollection {
        let keys = JWTKeyCollection()
        switch (material, alg) {
        case (.rsa(let k), "RS256"):
            await keys.add(rsa: try Insecure.RSA.PublicKey(backing: k), digestAlgorithm: .sha256)
        case (.rsa(let k), "RS384"):
            await keys.add(rsa: try Insecure.RSA.PublicKey(backing: k), digestAlgorithm: .sha384)
        case (.rsa(let k), "RS512"):
            await keys.add(rsa: try Insecure.RSA.PublicKey(backing: k), digestAlgorithm: .sha512)
        case (.p256(let k), "ES256"): await keys.add(ecdsa: try ES256PublicKey(backing: k))
        case (.p384(let k), "ES384"): await keys.add(ecdsa: try ES384PublicKey(backing: k))
        case (.p521(let k), "ES512"): await keys.add(ecdsa: try ES512PublicKey(backing: k))
        case (.ed25519(let k), "EdDSA"): await keys.add(eddsa: EdDSA.PublicKey(backing: k))
        default: throw TokenRefusal.invalid("algorithm \(alg) does not fit the signing key")
        }
        return keys
    }

    /// libtrust's key ID: the SHA-256 of the DER SubjectPublicKeyInfo, its first 240 bits in
    /// base32 without padding, as 12 groups of 4 joined by `:`.
    static func libtrustID(spki: some Sequence<UInt8>) -> String {
        let encoded = base32(Array(SHA256.hash(data: Array(spki)).prefix(30)))
        return stride(from: 0, to: encoded.count, by: 4).map { start in
            let from = encoded.index(encoded.startIndex, offsetBy: start)
            return String(encoded[from..<encoded.index(from, offsetBy: 4)])
        }.joined(separator: ":")
    }

    /// RFC 4648 base32 of a whole number of 5-byte groups (so without padding).
    static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var out = ""
        var buffer = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[(buffer >> bits) & 31])
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return out
    }

    /// RFC 7638: the SHA-256 of the key's required JWK members, in lexical order, without
    /// whitespace; base64url without padding.
    static func thumbprint(_ material: Material) -> String? {
        let members: String
        switch material {
        case .rsa(let k):
            guard let key = try? k.getKeyPrimitives() else { return nil }
            members = #"{"e":"\#(base64URL(key.publicExponent))","kty":"RSA","n":"\#(base64URL(key.modulus))"}"#
        case .p256(let k): members = ec("P-256", k.rawRepresentation)
        case .p384(let k): members = ec("P-384", k.rawRepresentation)
        case .p521(let k): members = ec("P-521", k.rawRepresentation)
        case .ed25519(let k):
            members = #"{"crv":"Ed25519","kty":"OKP","x":"\#(base64URL(k.rawRepresentation))"}"#
        }
        return base64URL(Data(SHA256.hash(data: Data(members.utf8))))
    }

    private static func ec(_ curve: String, _ raw: Data) -> String {
        let half = raw.count / 2
        return
            #"{"crv":"\#(curve)","kty":"EC","x":"\#(base64URL(raw.prefix(half)))","y":"\#(base64URL(raw.suffix(half)))"}"#
    }

    static func base64URL(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func base64URLDecode(_ text: String) -> Data? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }
}
