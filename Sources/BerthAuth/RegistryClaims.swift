internal import Foundation
internal import JWTKit

/// The claims of a Docker registry token: who it is for, who issued it for which service,
/// when it is good, and the `access` it grants.
struct RegistryClaims: JWTPayload, Equatable {
    /// One `access` entry: actions on a resource (`repository`, `team/app`, `[pull, push]`).
    struct Grant: Codable, Equatable, Sendable {
        var type: String
        var name: String
        var actions: [String]
    }

    var iss: String?
    var sub: String?
    /// A string or a list, as the JWT spec allows (registry:2 2.8 takes only the string).
    var aud: [String]?
    var exp: Int64?
    var nbf: Int64?
    var iat: Int64?
    var jti: String?
    var access: [Grant]?

    enum CodingKeys: String, CodingKey { case iss, sub, aud, exp, nbf, iat, jti, access }

    init(
        iss: String?, sub: String?, aud: [String]?, exp: Int64?, nbf: Int64?, iat: Int64?, jti: String?,
        access: [Grant]?
    ) {
        (self.iss, self.sub, self.aud, self.exp, self.nbf, self.iat, self.jti, self.access) =
            (iss, sub, aud, exp, nbf, iat, jti, access)
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        iss = try c.decodeIfPresent(String.self, forKey: .iss)
        sub = try c.decodeIfPresent(String.self, forKey: .sub)
        if let one = try? c.decodeIfPresent(String.self, forKey: .aud) {
            aud = [one]
        } else {
            aud = try c.decodeIfPresent([String].self, forKey: .aud)
        }
        exp = try Self.time(c, .exp)
        nbf = try Self.time(c, .nbf)
        iat = try Self.time(c, .iat)
        jti = try c.decodeIfPresent(String.self, forKey: .jti)
        access = try c.decodeIfPresent([Grant].self, forKey: .access)
    }

    /// NumericDate: seconds, possibly with a fraction.
    private static func time(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Int64? {
        guard let seconds = try c.decodeIfPresent(Double.self, forKey: key) else { return nil }
        guard seconds.isFinite, abs(seconds) < 1e15 else {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "not a time")
        }
        return Int64(seconds)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(iss, forKey: .iss)
        try c.encodeIfPresent(sub, forKey: .sub)
        // One audience as a plain string: what registry:2 2.8 accepts.
        if let aud { aud.count == 1 ? try c.encode(aud[0], forKey: .aud) : try c.encode(aud, forKey: .aud) }
        try c.encodeIfPresent(exp, forKey: .exp)
        try c.encodeIfPresent(nbf, forKey: .nbf)
        try c.encodeIfPresent(iat, forKey: .iat)
        try c.encodeIfPresent(jti, forKey: .jti)
        try c.encodeIfPresent(access, forKey: .access)
    }

    /// The claims are checked by `TokenValidator`, which knows the issuer, service and clock.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// The JOSE header fields that say how a token was signed.
struct TokenHeader: Decodable, Sendable {
    var alg: String?
    var kid: String?
    var x5c: [String]?
    var jwk: JSONWebKey?
}

/// Why a token does not let a request through: it is no good (`invalid_token`), or it is good
/// but does not grant what the request needs (`insufficient_scope`).
enum TokenRefusal: Error, Equatable {
    case invalid(String)
    case insufficientScope

    var reason: String {
        switch self {
        case .invalid(let reason): reason
        case .insufficientScope: "insufficient scope"
        }
    }
}
