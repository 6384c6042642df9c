internal import BerthAPI
internal import Foundation
internal import JWTKit

/// Checks a registry token the way registry:2's token access controller does: a trusted key
/// (`TrustedKeys`), an `alg` that fits it, the signature, `iss`, `aud`, and the time window.
struct TokenValidator: Sendable {
    let issuer: String
    let service: String
    let keys: TrustedKeys
    /// Clocks of issuer and registry differ: `exp` and `nbf` are taken this much loosely.
    static let leeway: Int64 = 60
    /// Tokens with an `x5c` chain run to a few KiB; anything far longer is not a token.
    static let longest = 64 * 1024

    func validate(_ token: String, now: Date = Date()) async throws(TokenRefusal) -> ValidToken {
        guard token.utf8.count <= Self.longest else { throw .invalid("the token is too long") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerJSON = TokenKey.base64URLDecode(String(parts[0])),
            let header = try? JSONDecoder().decode(TokenHeader.self, from: headerJSON)
        else { throw .invalid("the token is not a signed JWT") }
        guard let alg = header.alg, alg != "none", !alg.hasPrefix("HS") else {
            throw .invalid("the token's alg \(header.alg ?? "(none)") is not accepted")
        }
        let key = try await keys.key(for: header)
        guard key.algorithms.contains(alg) else { throw .invalid("alg \(alg) does not fit the signing key") }
        let claims: RegistryClaims
        do {
            claims = try await key.keys(for: alg).verify(token, as: RegistryClaims.self)
        } catch {
            throw .invalid("the token's signature does not verify")
        }
        guard claims.iss == issuer else { throw .invalid("the token is not from issuer \(issuer)") }
        guard claims.aud?.contains(service) == true else { throw .invalid("the token is not for service \(service)") }
        guard let exp = claims.exp else { throw .invalid("the token has no expiry") }
        let valid = ValidToken(
            subject: claims.sub ?? "", expires: exp, notBefore: claims.nbf, grants: ValidToken.grants(claims.access))
        try valid.checkTime(now)
        return valid
    }
}

/// What a verified token says: for whom, until when, and the actions it grants per resource.
struct ValidToken: Sendable {
    let subject: String
    let expires: Int64
    let notBefore: Int64?
    /// Actions by `type:name`.
    let grants: [String: Set<String>]

    static func grants(_ access: [RegistryClaims.Grant]?) -> [String: Set<String>] {
        var grants: [String: Set<String>] = [:]
        for grant in access ?? [] { grants["\(grant.type):\(grant.name)", default: []].formUnion(grant.actions) }
        return grants
    }

    func checkTime(_ now: Date) throws(TokenRefusal) {
        let seconds = Int64(now.timeIntervalSince1970)
        guard seconds <= expires + TokenValidator.leeway else { throw .invalid("the token has expired") }
        if let notBefore, seconds < notBefore - TokenValidator.leeway {
            throw .invalid("the token is not valid yet")
        }
    }

    /// Whether every action `access` needs is granted on exactly its resource (`*` grants all).
    func allows(_ access: Access) -> Bool {
        guard let actions = grants["\(access.type):\(access.name)"] else { return false }
        return actions.contains("*") || access.actions.allSatisfy { actions.contains($0.rawValue) }
    }
}
