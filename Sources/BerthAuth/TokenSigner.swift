internal import BerthConfig
internal import Crypto
internal import CryptoExtras
internal import Foundation
internal import JWTKit
internal import SwiftASN1
internal import X509

/// The built-in issuer's signing key and certificate chain. Tokens carry the chain in `x5c`
/// (what registry:2 2.8 checks first) and a `kid` (libtrust or RFC 7638), so that registry:2
/// 2.8 and distribution 3 both accept them with the certificate in their `rootcertbundle`.
struct TokenSigner: Sendable {
    let keys: JWTKeyCollection
    /// The chain, leaf first, as PEM (jwt-kit puts it into `x5c` as base64 DER).
    let chain: [String]
    let certificate: Certificate
    let kid: String

    init(
        keyPath: String, certificatePath: String, keyID: Configuration.Auth.TokenServer.KeyIDStyle
    ) async throws(KeyMaterialError) {
        let keyPEM = try KeyMaterialError.read(keyPath)
        let chainPEM = try KeyMaterialError.read(certificatePath)
        let certificates: [Certificate]
        do {
            certificates = try PEMDocument.parseMultiple(pemString: chainPEM).map { try Certificate(pemDocument: $0) }
        } catch {
            throw KeyMaterialError(description: "\(certificatePath) holds no readable PEM certificate: \(error)")
        }
        guard let leaf = certificates.first, let leafKey = TokenKey(leaf.publicKey) else {
            throw KeyMaterialError(description: "\(certificatePath) holds no RSA or ECDSA certificate")
        }
        let keys = JWTKeyCollection()
        let publicKey: Certificate.PublicKey
        do {
            if let rsa = try? _RSA.Signing.PrivateKey(pemRepresentation: keyPEM) {
                await keys.add(rsa: try Insecure.RSA.PrivateKey(backing: rsa), digestAlgorithm: .sha256)
                publicKey = Certificate.PublicKey(rsa.publicKey)
            } else if let p256 = try? P256.Signing.PrivateKey(pemRepresentation: keyPEM) {
                await keys.add(ecdsa: try ES256PrivateKey(backing: p256))
                publicKey = Certificate.PublicKey(p256.publicKey)
            } else if let p384 = try? P384.Signing.PrivateKey(pemRepresentation: keyPEM) {
                await keys.add(ecdsa: try ES384PrivateKey(backing: p384))
                publicKey = Certificate.PublicKey(p384.publicKey)
            } else {
                throw KeyMaterialError(
                    description: "\(keyPath) is not a PEM RSA (2048 bits or more), P-256 or P-384 private key")
            }
        } catch let error as KeyMaterialError {
            throw error
        } catch {
            throw KeyMaterialError(description: "\(keyPath) cannot sign: \(error)")
        }
        guard publicKey == leaf.publicKey else {
            throw KeyMaterialError(description: "\(keyPath) is not the key of the certificate in \(certificatePath)")
        }
        self.keys = keys
        self.certificate = leaf
        self.chain = certificates.compactMap { try? $0.serializeAsPEM().pemString }
        kid = keyID == .libtrust ? leafKey.libtrustID : leafKey.thumbprint
    }

    func sign(_ claims: RegistryClaims) async throws -> String {
        var header = JWTHeader()
        header.x5c = chain
        header.kid = kid
        return try await keys.sign(claims, header: header)
    }
}
