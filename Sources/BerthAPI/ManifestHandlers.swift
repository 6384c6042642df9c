internal import BerthHTTP
internal import BerthRegistry
internal import NIOCore
internal import NIOHTTP1
internal import OCI

extension RegistryAPI {
    /// `GET`/`HEAD /v2/<name>/manifests/<reference>`: the bytes as pushed.
    func getManifest(
        _ repository: Repository, _ reference: Reference, _ context: RequestContext
    ) async throws
        -> HTTPResponse
    {
        let manifest = try await repository.manifest(reference)
        if options.events != nil {
            var tag: String?
            if case .tag(let named) = reference { tag = named.value }
            notify(
                "pull", repository.name, context, digest: manifest.digest, size: Int64(manifest.bytes.count),
                mediaType: manifest.mediaType, tag: tag,
                url: options.urls.manifest(repository.name, manifest.digest, for: context.request))
        }
        let response = HTTPResponse(
            status: .ok,
            headers: [
                "Content-Type": manifest.mediaType,
                "Docker-Content-Digest": manifest.digest.description,
                "ETag": "\"\(manifest.digest)\"",
                "Content-Length": String(manifest.bytes.count),
            ],
            body: .bytes(ByteBuffer(bytes: manifest.bytes)))
        immediate?.hold(response, for: manifest.digest)
        return response
    }

    /// `PUT /v2/<name>/manifests/<reference>`.
    func putManifest(
        _ repository: Repository, _ reference: Reference, _ context: RequestContext
    ) async throws
        -> HTTPResponse
    {
        let request = context.request
        let limit = Manifest.maximumSize
        let tooLarge = RegistryError(
            .sizeInvalid, "manifest is larger than the \(limit)-byte limit", condition: .tooLarge)
        if let length = request.contentLength, length > limit { throw tooLarge }
        guard let bytes = try await request.body.collect(upTo: limit) else { throw tooLarge }
        let pushed = try await repository.putManifest(
            reference, bytes: bytes, contentType: request.headers.first(name: "content-type"))
        var headers = HTTPHeaders([
            ("Location", options.urls.manifest(repository.name, pushed.digest, for: request)),
            ("Docker-Content-Digest", pushed.digest.description),
            ("Content-Length", "0"),
        ])
        if let subject = pushed.subject { headers.add(name: "OCI-Subject", value: subject.description) }
        if options.events != nil {
            var tag: String?
            if case .tag(let named) = reference { tag = named.value }
            let mediaType = try? Manifest(bytes: bytes, contentType: request.headers.first(name: "content-type"))
                .mediaType
            notify(
                "push", repository.name, context, digest: pushed.digest, size: Int64(bytes.count), mediaType: mediaType,
                tag: tag, url: options.urls.manifest(repository.name, pushed.digest, for: request))
        }
        return HTTPResponse(status: .created, headers: headers)
    }
}
