public import BerthHTTP
public import BerthRegistry
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
        /// JSON pages beside the API, by path (`/debug/mirror`: the mirror's counters).
        public var debugPages: [String: @Sendable () async -> String] = [:]
        /// Who may do what on `/v2/`; registry:2 without `auth` lets everyone do everything.
        public var authorizer: any Authorizer = OpenAccess()
        /// Responders beside the API by exact path, outside `http.prefix` and asked without
        /// authorization (the built-in token endpoint: it is where clients get authorized).
        public var services: [String: any HTTPResponder] = [:]
        /// Counts authorization decisions and uploads in progress (`http.debug.prometheus`).
        public var metrics = APIMetrics.none
        /// `notifications`: where push, pull, mount and delete events go; nil when none are
        /// configured. With events, manifest pulls are not answered on the event loop (each
        /// must make its event).
        public var events: (any EventSink)?
        /// Who sees the events (known once the server listens: its port may be chosen then).
        public var eventSource: @Sendable () -> RegistryEvent.Source = {
            RegistryEvent.Source(addr: "", instanceID: "")
        }
        public init() {}
    }

    let registry: Registry
    let options: Options
    let logger: Logger
    /// What manifest pulls are answered with on the event loop (`respondImmediately`); nil
    /// unless the registry holds pulled manifests and anyone may pull without being asked who
    /// they are (no authorization runs on that path).
    let immediate: ImmediateAnswers?

    public init(registry: Registry, options: Options, logger: Logger) {
        self.registry = registry
        self.options = options
        self.logger = logger
        immediate =
            options.authorizer is OpenAccess && registry.holdsManifests && options.events == nil
            ? ImmediateAnswers() : nil
    }

    /// Headers on every response, as registry:2 sends them.
    public static let versionHeader = ("Docker-Distribution-API-Version", "registry/2.0")

    /// Error bodies for failures the HTTP layer answers before a request reaches us.
    public static let protocolErrorBody: @Sendable (Int, String) -> (contentType: String, body: String) = {
        ErrorResponse.protocolError(status: $0, message: $1)
    }

    /// Everything Berth serves, by path: the registry API, and the pages beside it.
    enum Endpoint {
        case registry(Route)
        case health
        case page(@Sendable () async -> String)
    }

    /// The top-level route table. Nil for a path Berth does not serve.
    func endpoint(_ path: String) throws(RegistryError) -> Endpoint? {
        if path == "/debug/health" { return .health }
        if let page = options.debugPages[path] { return .page(page) }
        return try Route(path: path).map(Endpoint.registry)
    }

    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        do {
            let whole = RequestTarget(request.uri)
            if !options.services.isEmpty, let service = options.services[whole.path] {
                return await service.respond(to: request)
            }
            guard let target = withoutPrefix(whole, request.uri) else { return notFound(whole.path) }
            let found: Endpoint?
            do {
                found = try endpoint(target.path)
            } catch {
                // A name that does not parse (`..`, upper case) is told only to a client that
                // has signed in: everyone else gets the challenge, as for any other path.
                if case .refused(let failure) = await options.authorizer.authorize(request, access: []) {
                    return refusal(failure)
                }
                throw error
            }
            switch found {
            case nil:
                return notFound(target.path)
            case .health:
                return await health()
            case .page(let page):
                return json(await page())
            case .registry(let route):
                let access = route.requiredAccess(request.method, query: target.query)
                let decision = await options.authorizer.authorize(request, access: access)
                options.metrics.count(decision)
                switch decision {
                case .refused(let failure):
                    return refusal(failure)
                case .granted(let principal):
                    let context = RequestContext(request: request, principal: principal, logger: logger)
                    switch route {
                    case .uploads, .upload:
                        options.metrics.uploadStarted()
                        defer { options.metrics.uploadEnded() }
                        return try await dispatch(route, target.query, context)
                    default:
                        return try await dispatch(route, target.query, context)
                    }
                }
            }
        } catch {
            return ErrorResponse.make(error, logger: logger, requestID: request.id)
        }
    }

    /// The target as the route table reads it: without `http.prefix`; nil outside the prefix.
    func withoutPrefix(_ target: RequestTarget, _ uri: String) -> RequestTarget? {
        let prefix = options.urls.prefix
        if prefix.isEmpty { return target }
        guard target.path.hasPrefix(prefix + "/") else { return nil }
        return RequestTarget(String(uri.dropFirst(prefix.count)))
    }

    private func dispatch(
        _ route: Route, _ query: [String: String], _ context: RequestContext
    ) async throws
        -> HTTPResponse
    {
        let request = context.request
        let method = request.method
        if case .catalog = route {
            guard method == .GET else { throw unsupported(request) }
            return try await catalog(query, context)
        }
        if case .base = route {
            guard method == .GET || method == .HEAD else { throw unsupported(request) }
            return json("{}")
        }
        guard let name = route.repositoryName else { throw unsupported(request) }
        let repository = registry.repository(name, ns: query["ns"])
        switch (route, method) {
        case (.tags, .GET):
            return try await tags(repository, query, context)
        case (.manifest(_, let reference), .GET), (.manifest(_, let reference), .HEAD):
            return try await getManifest(repository, try reference.forReading(), context)
        case (.manifest(_, let reference), .PUT):
            return try await putManifest(repository, try reference.forWriting(), context)
        case (.manifest(_, let reference), .DELETE):
            let reference = try reference.forReading()
            let tags = try await repository.deleteManifest(reference)
            switch reference {
            case .digest(let digest): notify("delete", name, context, digest: digest)
            case .tag: break
            }
            for tag in tags { notify("delete", name, context, tag: tag.value) }
            return HTTPResponse(status: .accepted)
        case (.blob(_, let digest), .GET), (.blob(_, let digest), .HEAD):
            return try await getBlob(repository, digest, context)
        case (.blob(_, let digest), .DELETE):
            try await repository.deleteBlob(digest)
            notify("delete", name, context, digest: digest)
            return HTTPResponse(status: .accepted, headers: ["Docker-Content-Digest": digest.description])
        case (.uploads, .POST):
            return try await startUpload(repository, query, context)
        case (.upload(_, let id), .GET):
            return try await uploadStatus(repository, try UploadID(id.value), context)
        case (.upload(_, let id), .PATCH):
            return try await patchUpload(repository, try UploadID(id.value), context)
        case (.upload(_, let id), .PUT):
            return try await finishUpload(repository, try UploadID(id.value), query, context)
        case (.upload(_, let id), .DELETE):
            try await repository.cancelUpload(try UploadID(id.value))
            return HTTPResponse(status: .noContent)
        case (.referrers(_, let digest), .GET):
            return try await referrers(repository, digest, query)
        default:
            throw unsupported(request)
        }
    }

    private func refusal(_ failure: AuthorizationFailure) -> HTTPResponse {
        ErrorResponse.make(failure.error, headers: failure.challenge.map { ["WWW-Authenticate": $0] } ?? [:])
    }

    private func unsupported(_ request: HTTPRequest) -> RegistryError {
        RegistryError(.unsupported, "\(request.method.rawValue) is not supported on \(request.uri.prefix(200))")
    }

    private func notFound(_ path: String) -> HTTPResponse {
        ErrorResponse.make(
            RegistryError(.unsupported, "no such endpoint: \(path.prefix(200))", condition: .noSuchEndpoint))
    }

    /// registry:2's `/debug/health`: 200 while storage answers, 503 when it does not.
    private func health() async -> HTTPResponse {
        do {
            try await registry.checkStorage()
            return json("{}")
        } catch {
            return HTTPResponse(
                status: .serviceUnavailable, headers: ["Content-Type": "application/json"],
                body: .bytes(ByteBuffer(string: "{\"storagedriver_\(registry.storageName)\":\"\(error)\"}")))
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
