internal import BerthHTTP
internal import Foundation
internal import NIOHTTP1
internal import OCI

/// Builds the URLs the API hands out (`Location`, `Link`): absolute by default, relative with
/// `http.relativeurls`, under `http.prefix`, for the host the client used or `http.host`.
public struct URLBuilder: Sendable {
    public var prefix: String = ""
    public var host: String? = nil
    public var relative = false

    public init(prefix: String = "", host: String? = nil, relative: Bool = false) {
        var prefix = prefix
        while prefix.hasSuffix("/") { prefix.removeLast() }
        self.prefix = prefix
        var host = host
        while host?.hasSuffix("/") == true { host?.removeLast() }
        self.host = host
        self.relative = relative
    }

    func url(_ path: String, for request: HTTPRequest) -> String {
        let full = prefix + path
        if relative { return full }
        if let host { return host + full }
        let forwardedProto = request.headers.first(name: "x-forwarded-proto").map(firstValue)
        let forwardedHost = request.headers.first(name: "x-forwarded-host").map(firstValue)
        let scheme = forwardedProto ?? (request.isTLS ? "https" : "http")
        let authority = forwardedHost ?? request.headers.first(name: "host") ?? "localhost"
        return "\(scheme)://\(authority)\(full)"
    }

    private func firstValue(_ list: String) -> String {
        String(list.split(separator: ",").first ?? "").trimmingCharacters(in: .whitespaces)
    }

    func blob(_ name: RepositoryName, _ digest: Digest, for request: HTTPRequest) -> String {
        url("/v2/\(name)/blobs/\(digest)", for: request)
    }

    func upload(_ name: RepositoryName, _ id: String, for request: HTTPRequest) -> String {
        url("/v2/\(name)/blobs/uploads/\(id)", for: request)
    }

    func manifest(_ name: RepositoryName, _ digest: Digest, for request: HTTPRequest) -> String {
        url("/v2/\(name)/manifests/\(digest)", for: request)
    }
}
