public import BerthHTTP
public import BerthRegistry
internal import BerthStorage
public import Logging
internal import NIOCore
internal import NIOHTTP1
internal import OCI

/// The distribution API as an HTTP responder: parses the target into a `Route`, dispatches to
/// the handler for route and method, and turns every failure into an OCI error response.
public struct RegistryAPI: HTTPResponder {
    public struct Options: Sendable {
        public var urls = URLBuilder()
        /// `catalog.maxentries`: the default and largest page of `_catalog`.
        public var catalogMaxEntries = 1000
        /// `storage.redirect.disable`: never redirect blob downloads to the storage backend.
        public var redirectDisabled = false
        public init() {}
    }

    let registry: Registry
    let options: Options
    let logger: Logger

    public init(registry: Registry, options: Options, logger: Logger) {
        self.registry = registry
        self.options = options
        self.logger = logger
    }

    /// Headers on every response, as registry:2 sends them.
    public static let versionHeader = ("Docker-Distribution-API-Version", "registry/2.0")

    /// Error bodies for failures the HTTP layer answers before a request reaches us.
    public static let protocolErrorBody: @Sendable (Int, String) -> (contentType: String, body: String) = {
        ErrorResponse.protocolError(status: $0, message: $1)
    }

    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        do {
            var target = RequestTarget(request.uri)
            let prefix = options.urls.prefix
            if !prefix.isEmpty {
                guard target.path.hasPrefix(prefix + "/") else { return notFound(target.path) }
                target = RequestTarget(String(request.uri.dropFirst(prefix.count)))
            }
            if target.path == "/debug/health" { return try await health() }
            guard let route = try Route(path: target.path) else { return notFound(target.path) }
            return try await dispatch(route, target.query, request)
        } catch {
            return ErrorResponse.make(error, logger: logger, requestID: request.id)
        }
    }

    private func dispatch(
        _ route: Route, _ query: [String: String], _ request: HTTPRequest
    ) async throws
        -> HTTPResponse
    {
        let method = request.method
        switch (route, method) {
        case (.base, .GET), (.base, .HEAD):
            return json("{}")
        case (.catalog, .GET):
            return try await catalog(query, request)
        case (.tags(let name), .GET):
            return try await tags(name, query, request)
        case (.manifest(let name, let reference), .GET), (.manifest(let name, let reference), .HEAD):
            return try await getManifest(name, try reference.forReading())
        case (.manifest(let name, let reference), .PUT):
            return try await putManifest(name, try reference.forWriting(), request)
        case (.manifest(let name, let reference), .DELETE):
            try await registry.deleteManifest(name, try reference.forReading())
            return HTTPResponse(status: .accepted)
        case (.blob(let name, let digest), .GET), (.blob(let name, let digest), .HEAD):
            return try await getBlob(name, digest, request)
        case (.blob(let name, let digest), .DELETE):
            try await registry.deleteBlob(name, digest)
            return HTTPResponse(status: .accepted, headers: ["Docker-Content-Digest": digest.description])
        case (.uploads(let name), .POST):
            return try await startUpload(name, query, request)
        case (.upload(let name, let id), .GET):
            return try await uploadStatus(name, try UploadID(id.value), request)
        case (.upload(let name, let id), .PATCH):
            return try await patchUpload(name, try UploadID(id.value), request)
        case (.upload(let name, let id), .PUT):
            return try await finishUpload(name, try UploadID(id.value), query, request)
        case (.upload(let name, let id), .DELETE):
            try await registry.cancelUpload(name, try UploadID(id.value))
            return HTTPResponse(status: .noContent)
        case (.referrers(let name, let digest), .GET):
            return try await referrers(name, digest, query)
        default:
            throw RegistryError(.unsupported, "\(method.rawValue) is not supported on \(request.uri.prefix(200))")
        }
    }

    private func notFound(_ path: String) -> HTTPResponse {
        ErrorResponse.make(RegistryError(.unsupported, "no such endpoint: \(path.prefix(200))", status: 404))
    }

    /// registry:2's `/debug/health`: 200 while storage answers, 503 when it does not.
    private func health() async throws -> HTTPResponse {
        do {
            _ = try await registry.driver.list("/")
            return json("{}")
        } catch StorageError.notFound {
            return json("{}")
        } catch {
            return HTTPResponse(
                status: .serviceUnavailable, headers: ["Content-Type": "application/json"],
                body: .bytes(ByteBuffer(string: "{\"storagedriver_\(registry.driver.name)\":\"\(error)\"}")))
        }
    }

    func json(_ text: String, status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        json(ByteBuffer(string: text), status: status, headers: headers)
    }

    func json(_ body: ByteBuffer, status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json; charset=utf-8")
        return HTTPResponse(status: status, headers: headers, body: .bytes(body))
    }
}
