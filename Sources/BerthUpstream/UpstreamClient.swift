internal import AsyncHTTPClient
internal import BerthConfig
internal import Foundation
internal import Logging
internal import NIOCore
internal import NIOHTTP1

/// Requests to one upstream registry, authenticated as it asks: anonymously, with Basic
/// credentials, or through the Docker token flow (a `Bearer` challenge names a realm; a token
/// for the request's scope is fetched there, cached until it expires, and the request is sent
/// again once). Redirects (blob downloads to a CDN or an object store) are followed by the
/// HTTP client, which drops `Authorization` when a redirect leaves the upstream's origin.
struct UpstreamClient: Sendable {
    let upstream: Configuration.Upstream
    let http: HTTPClient
    let logger: Logger
    let counters: UpstreamCounters
    private let tokens = TokenCache()
    private let limit: ConcurrencyLimit
    private let health: UpstreamHealth

    init(upstream: Configuration.Upstream, http: HTTPClient, counters: UpstreamCounters, logger: Logger) {
        self.upstream = upstream
        self.http = http
        self.logger = logger
        self.counters = counters
        self.limit = ConcurrencyLimit(upstream.concurrency)
        self.health = UpstreamHealth(upstream: upstream, counters: counters)
    }

    /// Sends a request for `path` (below the upstream's URL) with the access `scope` names
    /// (`repository:library/alpine:pull`). The response's body is the caller's to read. While
    /// the upstream is offline, throws at once without sending.
    func send(
        _ method: HTTPMethod, _ path: String, scope: String, headers: HTTPHeaders = [:], deadline: NIODeadline
    ) async throws -> HTTPClientResponse {
        try health.check()
        return try await limit.run {
            try health.check()  // it may have gone offline while this request waited its turn
            var response = try await execute(method, path, headers, authorization(scope), deadline)
            guard response.status == .unauthorized,
                let challenge = response.headers["www-authenticate"].lazy.compactMap(AuthChallenge.init).first
            else { return response }
            // Tell the upstream we are done with the refused answer, then answer its challenge.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            await tokens.drop(scope)
            guard let retry = try await answer(challenge, scope: scope) else { return response }
            response = try await execute(method, path, headers, retry, deadline)
            return response
        }
    }

    private func execute(
        _ method: HTTPMethod, _ path: String, _ headers: HTTPHeaders, _ authorization: String?, _ deadline: NIODeadline
    ) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: upstream.url + path)
        request.method = method
        request.headers = headers
        request.headers.replaceOrAdd(name: "User-Agent", value: "berth-mirror")
        if let authorization { request.headers.replaceOrAdd(name: "Authorization", value: authorization) }
        let kind = "\(Self.kind(path)) \(method.rawValue)"
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, deadline: deadline, logger: logger)
        } catch {
            counters.request(kind, "error")
            health.failed()
            throw error
        }
        counters.request(kind, "\(response.status.code)")
        if response.status.code >= 500 || response.status == .tooManyRequests {
            health.failed(retryAfter: UpstreamHealth.retryAfter(response.headers.first(name: "retry-after")))
        } else {
            health.succeeded()
        }
        if let remaining = response.headers.first(name: "ratelimit-remaining") {
            logger.info(
                "upstream rate limit",
                metadata: ["upstream": "\(upstream.name)", "ratelimit-remaining": "\(remaining)"])
        }
        return response
    }

    /// What a request asks for, for the counters.
    static func kind(_ path: String) -> String {
        if path.contains("/manifests/") { return "manifest" }
        if path.contains("/blobs/") { return "blob" }
        if path.hasSuffix("/tags/list") { return "tags" }
        if path.contains("/referrers/") { return "referrers" }
        return "other"
    }

    /// What to send before any challenge: a cached token for the scope, else Basic
    /// credentials once the upstream has asked for them.
    private func authorization(_ scope: String) async -> String? {
        if let token = await tokens.token(for: scope) { return "Bearer \(token)" }
        return await tokens.asksForBasic ? basic : nil
    }

    private var basic: String? {
        guard let username = upstream.username, let password = upstream.password else { return nil }
        return "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }

    /// The `Authorization` to retry with, or nil when the challenge cannot be answered.
    private func answer(_ challenge: AuthChallenge, scope: String) async throws -> String? {
        switch challenge.scheme {
        case .basic:
            await tokens.rememberBasic()
            return basic
        case .bearer:
            guard let realm = challenge.realm, let token = try await fetchToken(realm, challenge, scope: scope)
            else { return nil }
            return "Bearer \(token)"
        }
    }

    /// `GET realm?service=…&scope=…`, with Basic credentials only for a realm on the
    /// upstream's own domain: a challenge may name any URL, and the password must not go there.
    private func fetchToken(_ realm: String, _ challenge: AuthChallenge, scope: String) async throws -> String? {
        guard var components = URLComponents(string: realm), let scheme = components.scheme,
            scheme == "https" || scheme == "http", let realmHost = components.host
        else {
            logger.warning("upstream token realm is not an http(s) URL", metadata: ["upstream": "\(upstream.name)"])
            return nil
        }
        var query = components.queryItems ?? []
        if let service = challenge.service { query.append(URLQueryItem(name: "service", value: service)) }
        query.append(URLQueryItem(name: "scope", value: scope))
        components.queryItems = query
        guard let url = components.url?.absoluteString else { return nil }
        var request = HTTPClientRequest(url: url)
        if let basic, Self.sameSite(realmHost, URLComponents(string: upstream.url)?.host ?? "") {
            request.headers.add(name: "Authorization", value: basic)
        }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, deadline: .now() + .seconds(30), logger: logger)
        } catch {
            counters.request("token GET", "error")
            throw error
        }
        counters.request("token GET", "\(response.status.code)")
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else {
            logger.warning(
                "upstream token request refused",
                metadata: ["upstream": "\(upstream.name)", "status": "\(response.status.code)"])
            return nil
        }
        struct TokenResponse: Decodable {
            var token: String?
            var access_token: String?
            var expires_in: Double?
        }
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(body.readableBytesView)),
            let token = decoded.token ?? decoded.access_token, !token.isEmpty
        else { return nil }
        // The token spec's default lifetime is 60 seconds.
        await tokens.put(token, for: scope, lifetime: decoded.expires_in ?? 60)
        return token
    }

    /// Whether two hosts share a registrable domain (their last two labels; an IP address or
    /// a one-label name only matches itself). `auth.docker.io` and `registry-1.docker.io` do.
    static func sameSite(_ a: String, _ b: String) -> Bool {
        let a = a.lowercased()
        let b = b.lowercased()
        if a == b { return true }
        let isAddress = { (h: String) in h.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" } }
        if isAddress(a) || isAddress(b) { return false }
        let site = { (h: String) in h.split(separator: ".").suffix(2).joined(separator: ".") }
        return a.contains(".") && b.contains(".") && site(a) == site(b)
    }
}
