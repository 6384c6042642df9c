internal import BerthHTTP
internal import BerthRegistry
internal import NIOCore
internal import NIOHTTP1
internal import OCI

extension RegistryAPI {
    /// `POST /v2/<name>/blobs/uploads/`: a mount (`mount` and `from`), a single-request upload
    /// (`digest` with the body, answered 201 as the spec allows), or the start of an upload (202).
    func startUpload(
        _ repository: Repository, _ query: [String: String], _ context: RequestContext
    ) async throws
        -> HTTPResponse
    {
        let request = context.request
        // A mount names its source. Without `from`, registry:2 starts an upload, and so do we:
        // mounting from anywhere would let a client that knows a digest take content from a
        // repository it may not read.
        if let mount = query["mount"], let from = query["from"] {
            let digest = try Digest(parsing: mount)
            let source = try RepositoryName(from)
            if let blob = try await repository.mountBlob(digest, from: source) {
                notifyBlob("mount", repository, blob, context, from: source)
                return blobCreated(repository, blob.digest, request)
            }
            // Nothing to mount: the spec says to fall back to an upload session.
        }
        // Parsed before the upload exists, so a bad digest leaves nothing behind.
        let digest = try query["digest"].map { text throws(RegistryError) in try Digest(parsing: text) }
        let id = try await repository.startUpload()
        if let digest {
            let blob = try await repository.finishUpload(id, digest: digest, body: request.body)
            notifyBlob("push", repository, blob, context)
            return blobCreated(repository, blob.digest, request)
        }
        return uploadAccepted(repository, id, size: 0, request, status: .accepted)
    }

    /// `GET /v2/<name>/blobs/uploads/<id>`: where the upload stands.
    func uploadStatus(_ repository: Repository, _ id: UploadID, _ context: RequestContext) async throws -> HTTPResponse
    {
        let request = context.request
        let size = try await repository.uploadSize(id)
        return uploadAccepted(repository, id, size: size, request, status: .noContent)
    }

    /// `PATCH`: one chunk (with `Content-Range`, which must continue the upload) or a stream.
    func patchUpload(_ repository: Repository, _ id: UploadID, _ context: RequestContext) async throws -> HTTPResponse {
        let request = context.request
        let expected = try expectedOffset(request)
        do {
            let size = try await repository.appendUpload(id, body: request.body, expectedOffset: expected)
            return uploadAccepted(repository, id, size: size, request, status: .accepted)
        } catch let error as RegistryError where error.code == .rangeInvalid {
            // Where the client can continue from.
            return ErrorResponse.make(
                error,
                headers: [
                    "Location": options.urls.upload(repository.name, id.value, for: request),
                    "Docker-Upload-UUID": id.value,
                ])
        }
    }

    /// `PUT …?digest=`: the last chunk (optional) and the digest the upload must have.
    func finishUpload(
        _ repository: Repository, _ id: UploadID, _ query: [String: String], _ context: RequestContext
    )
        async throws -> HTTPResponse
    {
        let request = context.request
        guard let digestText = query["digest"] else {
            throw RegistryError(.digestInvalid, "the digest query parameter is required to complete an upload")
        }
        let digest = try Digest(parsing: digestText)
        if let expected = try expectedOffset(request) {
            let size = try await repository.uploadSize(id)
            guard expected == size else {
                throw RegistryError(
                    .rangeInvalid, "chunk starts at \(expected) but the upload has \(size) bytes",
                    condition: .uploadHolds(size: size))
            }
        }
        let blob = try await repository.finishUpload(id, digest: digest, body: request.body)
        notifyBlob("push", repository, blob, context)
        return blobCreated(repository, blob.digest, request)
    }

    /// A blob event as registry:2 sends it: its media type is always `application/octet-stream`.
    func notifyBlob(
        _ action: String, _ repository: Repository, _ blob: BlobInfo, _ context: RequestContext,
        from: RepositoryName? = nil
    ) {
        notify(
            action, repository.name, context, digest: blob.digest, size: blob.size,
            mediaType: "application/octet-stream",
            url: options.urls.blob(repository.name, blob.digest, for: context.request), from: from)
    }

    /// The chunk's start from `Content-Range`, after checking it against `Content-Length`.
    private func expectedOffset(_ request: HTTPRequest) throws(RegistryError) -> Int64? {
        guard let header = request.headers.first(name: "content-range") else { return nil }
        let range = try ChunkRange.parse(header)
        // Compared as `end - start` (no `+ 1`): a client's `0-9223372036854775807` must not overflow.
        if let length = request.contentLength, length - 1 != range.end - range.start {
            throw RegistryError(
                .sizeInvalid,
                "Content-Range \(header) covers \(range.start)…\(range.end) but Content-Length is \(length)")
        }
        return range.start
    }

    private func uploadAccepted(
        _ repository: Repository, _ id: UploadID, size: Int64, _ request: HTTPRequest, status: HTTPResponseStatus
    ) -> HTTPResponse {
        HTTPResponse(
            status: status,
            headers: [
                "Location": options.urls.upload(repository.name, id.value, for: request),
                "Range": ChunkRange.header(uploadSize: size),
                "Docker-Upload-UUID": id.value,
                "Content-Length": "0",
            ])
    }

    private func blobCreated(_ repository: Repository, _ digest: Digest, _ request: HTTPRequest) -> HTTPResponse {
        HTTPResponse(
            status: .created,
            headers: [
                "Location": options.urls.blob(repository.name, digest, for: request),
                "Docker-Content-Digest": digest.description,
                "Content-Length": "0",
            ])
    }
}
