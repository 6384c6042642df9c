internal import Crypto
internal import CryptoExtras
internal import Foundation
internal import SwiftASN1
internal import X509

/// The keys tokens may be signed with: the certificates of `rootcertbundle` and the keys of a
/// `jwks` file, as registry:2 and distribution 3 trust them.
struct TrustedKeys: Sendable {
    /// The bundle's certificates, the roots an `x5c` chain must end in.
    let roots: [Certificate]
    /// Every trusted key by each ID it may be named by: libtrust key ID and RFC 7638 thumbprint
    /// for all of them, and the `kid` a `jwks` file gives its own.
    let byID: [String: TokenKey]

    init(roots: [Certificate], jwks: [(kid: String?, key: TokenKey)]) {
        self.roots = roots
        var byID: [String: TokenKey] = [:]
        for certificate in roots {
            guard let key = TokenKey(certificate.publicKey) else { continue }
            byID[key.libtrustID] = key
            byID[key.thumbprint] = key
        }
        for (kid, key) in jwks {
            byID[key.libtrustID] = key
            byID[key.thumbprint] = key
            if let kid { byID[kid] = key }
        }
        self.byID = byID
    }

    /// Reads `rootcertbundle` (PEM certificates) and `jwks` (a JSON Web Key Set); either may be
    /// nil, not both. `extra` are certificates trusted besides (the built-in issuer's own).
    init(bundlePath: String?, jwksPath: String?, extra: [Certificate] = []) throws(KeyMaterialError) {
        var roots = extra
        if let bundlePath {
            let pem = try KeyMaterialError.read(bundlePath)
            do {
                roots += try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) }
            } catch {
                throw KeyMaterialError(description: "\(bundlePath) holds no readable PEM certificates: \(error)")
            }
            if roots.count == extra.count { throw KeyMaterialError(description: "\(bundlePath) holds no certificates") }
        }
        var jwks: [(String?, TokenKey)] = []
        if let jwksPath {
            let set: JSONWebKeySet
            do {
                set = try JSONDecoder().decode(JSONWebKeySet.self, from: Data(KeyMaterialError.read(jwksPath).utf8))
            } catch let error as KeyMaterialError {
                throw error
            } catch {
                throw KeyMaterialError(description: "\(jwksPath) is not a JSON Web Key Set: \(error)")
            }
            for (index, jwk) in set.keys.enumerated() {
                guard let key = jwk.tokenKey() else {
                    throw KeyMaterialError(
                        description: "\(jwksPath) key \(index + 1) is not an RSA, EC or Ed25519 public key")
                }
                jwks.append((jwk.kid, key))
            }
        }
        self.init(roots: roots, jwks: jwks)
        if byID.isEmpty { throw KeyMaterialError(description: "no token signing keys are trusted") }
    }

    /// The key a token's header names, in registry:2's order: an `x5c` chain that ends in a
    /// bundle certificate; a `jwk` header (its own `x5c` chain, or its key if that key is
    /// trusted); a `kid`.
    func key(for header: TokenHeader) async throws(TokenRefusal) -> TokenKey {
        if let chain = header.x5c { return try await verifiedLeaf(chain) }
        if let jwk = header.jwk {
            if let chain = jwk.x5c { return try await verifiedLeaf(chain) }
            guard let key = jwk.tokenKey(), let trusted = byID[key.thumbprint] else {
                throw .invalid("the jwk header's key is not trusted")
            }
            return trusted
        }
        if let kid = header.kid {
            guard let key = byID[kid] else { throw .invalid("unknown signing key \(kid.prefix(100))") }
            return key
        }
        throw .invalid("the token names no signing key (x5c, jwk or kid)")
    }

    /// The leaf of an `x5c` chain (base64 DER, leaf first) that verifies up to a root.
    private func verifiedLeaf(_ chain: [String]) async throws(TokenRefusal) -> TokenKey {
        guard !chain.isEmpty, chain.count <= 10 else { throw .invalid("the x5c chain is empty or too long") }
        var certificates: [Certificate] = []
        for entry in chain {
            guard let der = Data(base64Encoded: entry), let certificate = try? Certificate(derEncoded: Array(der))
            else { throw .invalid("an x5c entry is not a certificate") }
            certificates.append(certificate)
        }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) { RFC5280Policy() }
        let result = await verifier.validate(
            leaf: certificates[0], intermediates: CertificateStore(certificates.dropFirst()))
        guard case .validCertificate = result else {
            throw .invalid("the x5c chain does not end in a trusted certificate")
        }
        guard let key = TokenKey(certificates[0].publicKey) else {
            throw .invalid("the x5c certificate's key is not RSA, EC or Ed25519")
        }
        return key
    }
}

/// A JSON Web Key, as far as a public signing key goes (RFC 7517/7518, RFC 8037 for Ed25519).
struct JSONWebKey: Decodable, Sendable {
    var kty: String
    var kid: String?
    var n: String?
    var e: String?
    var crv: String?
    var x: String?
    var y: String?
    var x5c: [String]?

    func tokenKey() -> TokenKey? {
        func bytes(_ member: String?) -> Data? { member.flatMap(TokenKey.base64URLDecode) }
        let material: TokenKey.Material?
        switch (kty, crv) {
        case ("RSA", _):
            guard let n = bytes(n), let e = bytes(e) else { return nil }
            material = (try? _RSA.Signing.PublicKey(n: n, e: e)).map { .rsa($0) }
        case ("EC", "P-256"):
            guard let x = bytes(x), let y = bytes(y) else { return nil }
            material = (try? P256.Signing.PublicKey(rawRepresentation: x + y)).map { .p256($0) }
        case ("EC", "P-384"):
            guard let x = bytes(x), let y = bytes(y) else { return nil }
            material = (try? P384.Signing.PublicKey(rawRepresentation: x + y)).map { .p384($0) }
        case ("EC", "P-521"):
            guard let x = bytes(x), let y = bytes(y) else { return nil }
            material = (try? P521.Signing.PublicKey(rawRepresentation: x + y)).map { .p521($0) }
        case ("OKP", "Ed25519"):
            guard let x = bytes(x) else { return nil }
            material = (try? Curve25519.Signing.PublicKey(rawRepresentation: x)).map { .ed25519($0) }
        default:
            material = nil
        }
        return material.flatMap(TokenKey.init)
    }
}

struct JSONWebKeySet: Decodable {
    var keys: [JSONWebKey]
}
