public import BerthAPI
public import BerthHTTP
internal import Foundation
internal import NIOHTTP1
internal import OCI
internal import Synchronization

/// registry:2's `auth.token`: a request must carry `Authorization: Bearer <token>` signed by a
/// trusted key and granting what the route needs. Without one, `401` with the challenge
/// registry:2 sends: `Bearer realm="…",service="…",scope="repository:NAME:pull,push"`, and
/// `error="invalid_token"` or `error="insufficient_scope"` when a token came and fell short.
///
/// A token that verified is remembered (by its text, until it expires), so that the signature
/// is checked once per token rather than on every request a client makes with it.
public final class TokenAuthorizer: Authorizer, Sendable {
    let realm: String
    let service: String
    /// distribution 3's `autoredirect`: the realm is this path on the host the client asked.
    let autoRedirectPath: String?
    let validator: TokenValidator
    private let verified = Mutex<[String: ValidToken]>([:])
    static let rememberedTokens = 10_000

    init(realm: String, service: String, autoRedirectPath: String?, validator: TokenValidator) {
        self.realm = realm
        self.service = service
        self.autoRedirectPath = autoRedirectPath
        self.validator = validator
    }

    public func authorize(_ request: HTTPRequest, access: [Access]) async -> Authorization {
        guard let token = Self.bearerToken(request.headers.first(name: "authorization")) else {
            return refuse(request, access, nil, "authentication required")
        }
        let now = Date()
        let valid: ValidToken
        do throws(TokenRefusal) {
            if let known = verified.withLock({ $0[token] }) {
                try known.checkTime(now)
                valid = known
            } else {
                valid = try await validator.validate(token, now: now)
                verified.withLock { verified in
                    if verified.count >= Self.rememberedTokens { verified.removeAll() }
                    verified[token] = valid
                }
            }
        } catch {
            return refuse(request, access, error, error.reason)
        }
        guard access.allSatisfy(valid.allows) else {
            return refuse(request, access, .insufficientScope, "the token does not grant \(Self.scope(access))")
        }
        return .granted(Principal(account: valid.subject))
    }

    /// `Bearer <token>`; a token in any other form (Basic, a query parameter) is not looked at.
    /// Read as UTF-8 bytes: this runs on every request, and a token is most of a kilobyte.
    static func bearerToken(_ header: String?) -> String? {
        guard let bytes = header?.utf8, bytes.count > 7, bytes.count <= TokenValidator.longest + 7 else { return nil }
        let scheme = bytes.prefix(7)
        guard String(decoding: scheme, as: UTF8.self).lowercased() == "bearer " else { return nil }
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        var token = bytes.dropFirst(7)
        while let first = token.first, isSpace(first) { token = token.dropFirst() }
        while let last = token.last, isSpace(last) { token = token.dropLast() }
        return token.isEmpty ? nil : String(decoding: token, as: UTF8.self)
    }

    /// The challenge's `scope`: each access as `type:name:actions`, space-separated.
    static func scope(_ access: [Access]) -> String { access.map(\.description).joined(separator: " ") }

    func challenge(_ request: HTTPRequest, _ access: [Access], _ refusal: TokenRefusal?) -> String {
        var realm = self.realm
        if let autoRedirectPath, let host = request.headers.first(name: "host") {
            let scheme =
                request.headers.first(name: "x-forwarded-proto") ?? (request.isTLS ? "https" : "http")
            realm = "\(scheme)://\(host)\(autoRedirectPath)"
        }
        func quoted(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "") + "\"" }
        var challenge = "Bearer realm=\(quoted(realm)),service=\(quoted(service))"
        if !access.isEmpty { challenge += ",scope=\(quoted(Self.scope(access)))" }
        switch refusal {
        case .invalid: challenge += ",error=\"invalid_token\""
        case .insufficientScope: challenge += ",error=\"insufficient_scope\""
        case nil: break
        }
        return challenge
    }

    private func refuse(
        _ request: HTTPRequest, _ access: [Access], _ refusal: TokenRefusal?, _ message: String
    )
        -> Authorization
    {
        .refused(
            AuthorizationFailure(
                RegistryError(.unauthorized, message), challenge: challenge(request, access, refusal)))
    }
}
