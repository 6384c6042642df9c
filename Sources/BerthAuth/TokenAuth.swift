public import BerthConfig
internal import X509

/// `auth.token` put together: the authorizer that validates tokens on `/v2/`, and with
/// `server`, the token endpoint and the path it answers on (the realm's).
public struct TokenAuth: Sendable {
    public let authorizer: TokenAuthorizer
    public let server: (path: String, responder: TokenServer)?

    public init(_ config: Configuration.Auth.Token) async throws(ConfigError) {
        var signer: TokenSigner?
        if let server = config.server {
            do {
                signer = try await TokenSigner(
                    keyPath: server.key, certificatePath: server.certificate,
                    keyID: server.keyID)
            } catch {
                throw ConfigError(key: "auth.token.server", message: error.description)
            }
        }
        let keys: TrustedKeys
        do {
            keys = try TrustedKeys(
                bundlePath: config.rootCertBundle, jwksPath: config.jwks, extra: signer.map { [$0.certificate] } ?? [])
        } catch {
            throw ConfigError(
                key: config.jwks != nil ? "auth.token.jwks" : "auth.token.rootcertbundle", message: error.description)
        }
        authorizer = TokenAuthorizer(
            realm: config.realm, service: config.service, autoRedirectPath: config.autoRedirectPath,
            validator: TokenValidator(issuer: config.issuer, service: config.service, keys: keys))
        guard let settings = config.server, let signer else {
            server = nil
            return
        }
        let passwords: PasswordChecker
        do {
            passwords = try PasswordChecker(path: settings.htpasswd, inline: settings.users)
        } catch {
            throw ConfigError(key: "auth.token.server.htpasswd", message: error.description)
        }
        var rules: [AccessRules.Rule]?
        if let acl = settings.acl {
            do throws(AccessRules.Invalid) {
                rules = try acl.enumerated().map { index, rule throws(AccessRules.Invalid) in
                    try AccessRules.Rule(
                        account: rule.account, name: rule.name, type: rule.type, ip: rule.ip, actions: rule.actions,
                        key: "auth.token.server.acl[\(index)]")
                }
            } catch {
                throw ConfigError(key: error.key, message: error.description)
            }
        }
        let path = config.autoRedirectPath ?? ConfigurationLoader.tokenPath(config.realm) ?? "/auth/token"
        server = (
            path,
            TokenServer(
                service: config.service, issuer: config.issuer, signer: signer, passwords: passwords,
                rules: AccessRules(rules), expiration: Int64(settings.expiration.components.seconds),
                refreshExpiration: Int64(settings.refreshExpiration.components.seconds),
                refreshValidator: TokenValidator(
                    issuer: config.issuer, service: config.service + "#refresh",
                    keys: TrustedKeys(roots: [signer.certificate], jwks: [])))
        )
    }
}
