public import BerthAPI
public import BerthHTTP
internal import Foundation
internal import NIOHTTP1
internal import OCI

/// registry:2's `auth.htpasswd`: every request must carry Basic credentials of a user in the
/// file, and a user may do everything (htpasswd has no rules); without them, `401` with a
/// `Basic` challenge for the realm. Passwords are checked (and failures slowed down) by a
/// `PasswordChecker`.
public struct HtpasswdAuthorizer: Authorizer {
    let realm: String
    let passwords: PasswordChecker

    public init(realm: String, path: String) throws(Htpasswd.Invalid) {
        self.realm = realm
        passwords = try PasswordChecker(path: path)
    }

    public func authorize(_ request: HTTPRequest, access: [Access]) async -> Authorization {
        guard let (user, password) = PasswordChecker.basicCredentials(request.headers.first(name: "authorization"))
        else { return refuse("authentication required") }
        guard await passwords.check(user: user, password: password, address: request.remoteAddress) else {
            return refuse("invalid username or password")
        }
        return .granted(Principal(account: user))
    }

    private func refuse(_ message: String) -> Authorization {
        .refused(
            AuthorizationFailure(
                RegistryError(.unauthorized, message),
                challenge: "Basic realm=\"\(realm.replacingOccurrences(of: "\"", with: ""))\""))
    }
}
