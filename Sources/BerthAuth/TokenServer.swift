public import BerthHTTP
internal import Foundation
internal import NIOCore
internal import NIOHTTP1

/// The Docker token endpoint (a Berth extension, `auth.token.server`): `GET` with Basic
/// credentials or none, as `docker login` and pulls use it, and `POST` with the OAuth2 form
/// (`grant_type=password` or `refresh_token`), as containerd and Docker with a stored identity
/// token use it. It answers `{token, access_token, expires_in, issued_at}`, with a
/// `refresh_token` when asked (`offline_token=true`, `access_type=offline`), granting each
/// requested scope what the access rules allow of it.
public struct TokenServer: HTTPResponder {
    let service: String
    let issuer: String
    let signer: TokenSigner
    let passwords: PasswordChecker
    let rules: AccessRules
    let expiration: Int64
    let refreshExpiration: Int64
    /// Checks refresh tokens: signed by this server, for `<service>#refresh` (so that a refresh
    /// token is never taken as an access token, whose audience is the service itself).
    let refreshValidator: TokenValidator
    static let longestForm = 64 * 1024

    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        do {
            switch request.method {
            case .GET: return try await get(request)
            case .POST: return try await post(request)
            default: throw Failure(.methodNotAllowed, "unsupported", "use GET or POST")
            }
        } catch let failure as Failure {
            return failure.response
        } catch {
            return Failure(.internalServerError, "server_error", "the token could not be made").response
        }
    }

    /// A refusal: status, the OAuth2 error code, a message, and the Basic challenge for 401.
    struct Failure: Error {
        let status: HTTPResponseStatus
        let code: String
        let message: String

        init(_ status: HTTPResponseStatus, _ code: String, _ message: String) {
            (self.status, self.code, self.message) = (status, code, message)
        }

        /// Both shapes clients read: OCI `errors` (Docker) and OAuth2 `error` (containerd).
        var response: HTTPResponse {
            let registryCode =
                status == .unauthorized ? "UNAUTHORIZED" : status == .forbidden ? "DENIED" : "UNSUPPORTED"
            let body: [String: Any] = [
                "errors": [["code": registryCode, "message": message]], "error": code, "error_description": message,
            ]
            var headers = HTTPHeaders([("Content-Type", "application/json; charset=utf-8")])
            if status == .unauthorized { headers.add(name: "WWW-Authenticate", value: "Basic realm=\"berth token\"") }
            let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
            return HTTPResponse(status: status, headers: headers, body: .bytes(ByteBuffer(bytes: data)))
        }
    }

    private func get(_ request: HTTPRequest) async throws -> HTTPResponse {
        let form = FormFields(query: request.uri)
        var account = ""
        if let header = request.headers.first(name: "authorization") {
            guard let (user, password) = PasswordChecker.basicCredentials(header),
                await passwords.check(user: user, password: password, address: request.remoteAddress)
            else { throw Failure(.unauthorized, "invalid_grant", "incorrect username or password") }
            account = user
        }
        return try await answer(
            form, account: account, scopes: form.all("scope"), address: request.remoteAddress,
            refresh: form.first("offline_token") == "true" && !account.isEmpty)
    }

    private func post(_ request: HTTPRequest) async throws -> HTTPResponse {
        var body = ByteBuffer()
        for try await chunk in request.body {
            guard body.readableBytes + chunk.readableBytes <= Self.longestForm else {
                throw Failure(.payloadTooLarge, "invalid_request", "the form is larger than 64 KiB")
            }
            body.writeImmutableBuffer(chunk)
        }
        let form = FormFields(String(buffer: body)[...])
        let scopes = form.all("scope").flatMap { $0.split(separator: " ").map(String.init) }
        let account: String
        switch form.first("grant_type") {
        case "password":
            guard let user = form.first("username"), let password = form.first("password"),
                await passwords.check(user: user, password: password, address: request.remoteAddress)
            else { throw Failure(.unauthorized, "invalid_grant", "incorrect username or password") }
            account = user
        case "refresh_token":
            guard let token = form.first("refresh_token"),
                let valid = try? await refreshValidator.validate(token), passwords.knows(valid.subject)
            else { throw Failure(.unauthorized, "invalid_grant", "the refresh token is not valid") }
            account = valid.subject
        default:
            throw Failure(.badRequest, "unsupported_grant_type", "grant_type must be password or refresh_token")
        }
        return try await answer(
            form, account: account, scopes: scopes, address: request.remoteAddress,
            refresh: form.first("access_type") == "offline" || form.first("grant_type") == "refresh_token")
    }

    private func answer(
        _ form: FormFields, account: String, scopes: [String], address: String, refresh: Bool
    )
        async throws -> HTTPResponse
    {
        if let asked = form.first("service"), asked != service {
            throw Failure(.badRequest, "invalid_request", "this server issues tokens for service \(service) only")
        }
        let host = AddressRange.ip(of: address)
        var access: [RegistryClaims.Grant] = []
        for scope in scopes {
            guard let (type, name, actions) = Self.parseScope(scope) else {
                throw Failure(.badRequest, "invalid_scope", "\(scope.prefix(200)) is not type:name:actions")
            }
            let granted = rules.granted(actions, account: account, type: type, name: name, address: host)
            if !granted.isEmpty { access.append(.init(type: type, name: name, actions: granted)) }
        }
        let now = Int64(Date().timeIntervalSince1970)
        let claims = RegistryClaims(
            iss: issuer, sub: account, aud: [service], exp: now + expiration, nbf: now, iat: now,
            jti: Self.randomID(), access: access)
        let token = try await signer.sign(claims)
        var body: [String: Any] = [
            "token": token, "access_token": token, "expires_in": expiration,
            "issued_at": Date(timeIntervalSince1970: TimeInterval(now)).formatted(.iso8601),
        ]
        if refresh {
            body["refresh_token"] = try await signer.sign(
                RegistryClaims(
                    iss: issuer, sub: account, aud: [service + "#refresh"], exp: now + refreshExpiration, nbf: now,
                    iat: now, jti: Self.randomID(), access: nil))
        }
        let data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        return HTTPResponse(
            status: .ok, headers: ["Content-Type": "application/json", "Cache-Control": "no-store"],
            body: .bytes(ByteBuffer(bytes: data)))
    }

    /// `type:name:actions`; the name may hold `:` itself (`repository:host:5000/app:pull`).
    static func parseScope(_ scope: String) -> (String, String, [String])? {
        guard let first = scope.firstIndex(of: ":"), let last = scope.lastIndex(of: ":"), first < last else {
            return nil
        }
        let type = String(scope[..<first])
        let name = String(scope[scope.index(after: first)..<last])
        let actions = scope[scope.index(after: last)...].split(separator: ",").map(String.init)
        guard !type.isEmpty, !name.isEmpty, !actions.isEmpty else { return nil }
        return (type, name, actions)
    }

    static func randomID() -> String {
        (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}

/// `application/x-www-form-urlencoded` fields, of a query string or a POST body.
struct FormFields {
    let fields: [(String, String)]

    init(_ text: Substring) {
        fields = text.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let spaced = s.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    init(query uri: String) {
        self.init(uri.firstIndex(of: "?").map { uri[uri.index(after: $0)...] } ?? "")
    }

    func first(_ name: String) -> String? { fields.first { $0.0 == name }?.1 }
    func all(_ name: String) -> [String] { fields.filter { $0.0 == name }.map(\.1) }
}
