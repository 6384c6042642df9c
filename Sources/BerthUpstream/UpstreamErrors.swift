internal import AsyncHTTPClient
internal import BerthConfig
internal import NIOHTTP1
internal import OCI

extension MirrorNamespace {
    /// Checks an upstream answer: 200 passes; 404 is the client's `code` (the content does not
    /// exist); 429 and anything else is the upstream failing, which the cache may cover.
    static func expect(
        _ response: HTTPClientResponse, _ code: ErrorCode, _ detail: [String: String],
        upstream: Configuration.Upstream
    ) async throws {
        if response.status == .ok { return }
        _ = try? await response.body.collect(upTo: 64 * 1024)
        switch response.status {
        case .notFound:
            throw RegistryError(code, "\(code.message) at upstream \(upstream.name)", detail: detail)
        case .tooManyRequests:
            let retry = response.headers.first(name: "retry-after").map { " (Retry-After: \($0.prefix(40)))" } ?? ""
            throw RegistryError(.tooManyRequests, "upstream \(upstream.name) is rate-limiting\(retry)")
        case .unauthorized, .forbidden:
            throw RegistryError(
                .unavailable,
                "upstream \(upstream.name) refused Berth's credentials (\(response.status.code)); check mirror.upstreams.\(upstream.name).username/password",
                condition: .upstreamFailed)
        default:
            throw RegistryError(
                .unavailable, "upstream \(upstream.name) answered \(response.status.code)", condition: .upstreamFailed)
        }
    }

    /// Whether a failure is the upstream's (unreachable, slow, 5xx, 429, refused credentials)
    /// rather than an answer about the content, so that cached content may be served instead.
    static func servesCache(_ error: any Error) -> Bool {
        guard let error = error as? RegistryError else { return true }
        return error.condition == .upstreamFailed || error.code == .tooManyRequests
    }

    /// A failure as the client is told it: the upstream's answer, or that it is unreachable.
    static func unavailable(_ error: any Error, _ upstream: Configuration.Upstream) -> RegistryError {
        if let error = error as? RegistryError { return error }
        return RegistryError(
            .unavailable, "upstream \(upstream.name) (\(upstream.url)) is unreachable: \(error)",
            condition: .upstreamFailed)
    }
}
