import BerthAPI
import Crypto
import Foundation
import JWTKit
import OCI
import Testing

@testable import BerthAuth

@Suite struct TokenValidationTests {
    let signing = P256.Signing.PrivateKey()
    let issuer = "test-issuer"
    let service = "berth-test"

    var key: TokenKey { TokenKey(.p256(signing.publicKey))! }

    func validator(jwksKID: String? = nil) -> TokenValidator {
        TokenValidator(
            issuer: issuer, service: service, keys: TrustedKeys(roots: [], jwks: [(kid: jwksKID, key: key)]))
    }

    func claims(
        aud: [String]? = nil, exp: Int64? = Int64(Date().timeIntervalSince1970) + 300, nbf: Int64? = nil,
        iss: String? = nil, access: [RegistryClaims.Grant] = [.init(type: "repository", name: "a/b", actions: ["pull"])]
    ) -> RegistryClaims {
        RegistryClaims(
            iss: iss ?? issuer, sub: "alice", aud: aud ?? [service], exp: exp, nbf: nbf, iat: nil, jti: "1",
            access: access)
    }

    func sign(_ claims: RegistryClaims, kid: String?) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: try ES256PrivateKey(backing: signing))
        var header = JWTHeader()
        header.kid = kid
        return try await keys.sign(claims, header: header)
    }

    func refusal(_ token: String, _ v: TokenValidator? = nil) async -> TokenRefusal? {
        do {
            _ = try await (v ?? validator()).validate(token)
            return nil
        } catch {
            return error
        }
    }

    @Test func keyIDsOfBothStylesFindTheKey() async throws {
        for kid in [key.libtrustID, key.thumbprint] {
            let valid = try await validator().validate(try await sign(claims(), kid: kid))
            #expect(valid.subject == "alice")
            #expect(valid.allows(.repository(try RepositoryName("a/b"), .pull)))
        }
        // The jwks file's own kid, too.
        let token = try await sign(claims(), kid: "my-key-1")
        #expect(try await validator(jwksKID: "my-key-1").validate(token).subject == "alice")
        #expect(await refusal(token) == .invalid("unknown signing key my-key-1"))
    }

    @Test func libtrustIDIsTwelveGroupsOfFourBase32() {
        #expect(TokenKey.base32(Array("fooba".utf8)) == "MZXW6YTB")
        let id = key.libtrustID
        #expect(id.split(separator: ":").count == 12)
        #expect(id.split(separator: ":").allSatisfy { $0.count == 4 })
    }

    @Test func claimsAreChecked() async throws {
        let now = Int64(Date().timeIntervalSince1970)
        let kid = key.libtrustID
        #expect(await refusal(try await sign(claims(iss: "someone-else"), kid: kid)) != nil)
        #expect(await refusal(try await sign(claims(aud: ["other"]), kid: kid)) != nil)
        #expect(await refusal(try await sign(claims(exp: nil), kid: kid)) == .invalid("the token has no expiry"))
        #expect(await refusal(try await sign(claims(exp: now - 120), kid: kid)) == .invalid("the token has expired"))
        #expect(
            await refusal(try await sign(claims(nbf: now + 120), kid: kid)) == .invalid("the token is not valid yet"))
        // Within the 60 s leeway, and an audience list holding the service.
        #expect(await refusal(try await sign(claims(exp: now - 30), kid: kid)) == nil)
        #expect(await refusal(try await sign(claims(aud: ["x", service]), kid: kid)) == nil)
    }

    @Test func forgedTokensAreRefused() async throws {
        let token = try await sign(claims(), kid: key.libtrustID)
        let parts = token.split(separator: ".").map(String.init)
        // A tampered payload.
        let other = TokenKey.base64URL(
            try JSONEncoder().encode(claims(access: [.init(type: "repository", name: "a/b", actions: ["*"])])))
        #expect(await refusal([parts[0], other, parts[2]].joined(separator: ".")) != nil)
        // alg none, and HS256 keyed with the public key's bytes.
        func header(_ json: String) -> String { TokenKey.base64URL(Data(json.utf8)) }
        let none = header(#"{"alg":"none","kid":"\#(key.libtrustID)"}"#)
        #expect(await refusal("\(none).\(parts[1]).") != nil)
        let hs = header(#"{"alg":"HS256","kid":"\#(key.libtrustID)"}"#)
        let mac = HMAC<SHA256>.authenticationCode(
            for: Data("\(hs).\(parts[1])".utf8), using: SymmetricKey(data: signing.publicKey.derRepresentation))
        #expect(await refusal("\(hs).\(parts[1]).\(TokenKey.base64URL(Data(mac)))") != nil)
        // ES384 claimed for a P-256 key.
        let es384 = header(#"{"alg":"ES384","kid":"\#(key.libtrustID)"}"#)
        #expect(await refusal("\(es384).\(parts[1]).\(parts[2])") != nil)
        // Signed by a key nobody trusts, naming a trusted kid.
        let stranger = JWTKeyCollection()
        await stranger.add(ecdsa: ES256PrivateKey())
        var h = JWTHeader()
        h.kid = key.libtrustID
        #expect(await refusal(try await stranger.sign(claims(), header: h)) != nil)
        #expect(await refusal("not.a.jwt") != nil)
        #expect(await refusal(String(repeating: "a", count: 70_000)) == .invalid("the token is too long"))
    }

    @Test func accessMatchesExactlyTheResource() throws {
        let token = ValidToken(
            subject: "a", expires: 0, notBefore: nil,
            grants: ValidToken.grants([
                .init(type: "repository", name: "a/b", actions: ["pull"]),
                .init(type: "repository", name: "c/d", actions: ["*"]),
            ]))
        #expect(token.allows(.repository(try RepositoryName("a/b"), .pull)))
        #expect(!token.allows(.repository(try RepositoryName("a/b"), .pull, .push)))
        #expect(!token.allows(.repository(try RepositoryName("a/b"), .delete)))
        #expect(!token.allows(.repository(try RepositoryName("a/b/c"), .pull)))
        #expect(!token.allows(.repository(try RepositoryName("a/bc"), .pull)))
        #expect(token.allows(.repository(try RepositoryName("c/d"), .pull, .push)))
        #expect(!token.allows(.catalog))
    }

    @Test func bearerTokensOnly() {
        #expect(TokenAuthorizer.bearerToken("Bearer abc.def.ghi") == "abc.def.ghi")
        #expect(TokenAuthorizer.bearerToken("bearer abc") == "abc")
        #expect(TokenAuthorizer.bearerToken("Basic YWxpY2U6eA==") == nil)
        #expect(TokenAuthorizer.bearerToken("Bearer ") == nil)
        #expect(TokenAuthorizer.bearerToken(String(repeating: "B", count: 1 << 20)) == nil)
    }

    @Test func scopesParse() {
        #expect(
            TokenServer.parseScope("repository:team/app:pull,push")! == ("repository", "team/app", ["pull", "push"]))
        #expect(TokenServer.parseScope("repository:host:5000/app:pull")! == ("repository", "host:5000/app", ["pull"]))
        #expect(TokenServer.parseScope("registry:catalog:*")! == ("registry", "catalog", ["*"]))
        #expect(TokenServer.parseScope("repository:app") == nil)
        #expect(TokenServer.parseScope("repository::pull") == nil)
    }
}
