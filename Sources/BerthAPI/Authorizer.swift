public import BerthHTTP
public import Logging
public import OCI

/// Who a request acts for: an account name, or anonymous (the empty name, as the token spec
/// has it).
public struct Principal: Sendable, Equatable {
    public let account: String

    public init(account: String) { self.account = account }

    public static let anonymous = Principal(account: "")
    public var isAnonymous: Bool { account.isEmpty }
}

/// The one step between parsing a route and running its handler that decides whether the
/// request may go on (htpasswd, token validation, the built-in issuer's rules plug in here).
public protocol Authorizer: Sendable {
    /// Granted, with the principal the request acts for; or refused, with the error to answer
    /// (`UNAUTHORIZED` with a challenge, or `DENIED`). `access` is empty for `/v2/`.
    func authorize(_ request: HTTPRequest, access: [Access]) async -> Authorization
}

public enum Authorization: Sendable {
    case granted(Principal)
    case refused(AuthorizationFailure)
}

/// A refusal: the OCI error, and the `WWW-Authenticate` challenge for a 401.
public struct AuthorizationFailure: Error, Sendable {
    public let error: RegistryError
    public let challenge: String?

    public init(_ error: RegistryError, challenge: String?) {
        self.error = error
        self.challenge = challenge
    }
}

/// What registry:2 does without an `auth` section: every request is granted, anonymously.
public struct OpenAccess: Authorizer {
    public init() {}

    public func authorize(_ request: HTTPRequest, access: [Access]) async -> Authorization {
        .granted(.anonymous)
    }
}

/// What a handler gets instead of the bare request: the request, who it acts for, and the
/// logger that carries its id.
public struct RequestContext {
    public let request: HTTPRequest
    public let principal: Principal
    public let logger: Logger

    public var id: String { request.id }
}
