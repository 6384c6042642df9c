internal import BerthHTTP
internal import BerthRegistry
internal import NIOCore
internal import NIOHTTP1
internal import OCI

extension RegistryAPI {
    /// `POST /v2/<name>/blobs/uploads/`: a mount (`mount` and `from`), a single-request upload
    /// (`digest` with the body, answered 201 as the spec allows), or the start of an upload (202).
    func startUpload(
        _ name: RepositoryName, _ query: [String: String], _ request: HTTPRequest
    ) async throws
        -> HTTPResponse
    {
        // A mount names its source. Without `from`, registry:2 starts an upload, and so do we:
        // mounting from anywhere would let a client that knows a digest take content from a
        // repository it may not read.
        if let mount = query["mount"], let from = query["from"] {
            let digest = try Digest(parsing: mount)
            if let blob = try await registry.mountBlob(name, digest, from: try RepositoryName(from)) {
                return blobCreated(name, blob.digest, request)
            }
            // Nothing to mount: the spec says to fall back to an upload session.
        }
        // Parsed before the upload exists, so a bad digest leaves nothing behind.
        let digest = try query["digest"].map { text throws(RegistryError) in try Digest(parsing: text) }
        let id = try await registry.startUpload(name)
        if let digest {
            let blob = try await registry.finishUpload(name, id, digest: digest, body: request.body)
            return blobCreated(name, blob.digest, request)
        }
        return uploadAccepted(name, id, size: 0, request, status: .accepted)
    }

    /// `GET /v2/<name>/blobs/uploads/<id>`: where the upload stands.
    func uploadStatus(_ name: RepositoryName, _ id: UploadID, _ request: HTTPRequest) async throws -> HTTPResponse {
        let size = try await registry.uploadSize(name, id)
        return uploadAccepted(name, id, size: size, request, status: .noContent)
    }

    /// `PATCH`: one chunk (with `Content-Range`, which must continue the upload) or a stream.
    func patchUpload(_ name: RepositoryName, _ id: UploadID, _ request: HTTPRequest) async throws -> HTTPResponse {
        let expected = try expectedOffset(request)
        do {
            let size = try await registry.appendUpload(name, id, body: request.body, expectedOffset: expected)
            return uploadAccepted(name, id, size: size, request, status: .accepted)
        } catch var error as RegistryError where error.code == .rangeInvalid {
            error.headers.append(("Location", options.urls.upload(name, id.value, for: request)))
            error.headers.append(("Docker-Upload-UUID", id.value))
            throw error
        }
    }

    /// `PUT …?digest=`: the last chunk (optional) and the digest the upload must have.
    func finishUpload(
        _ name: RepositoryName, _ id: UploadID, _ query: [String: String], _ request: HTTPRequest
    )
        async throws -> HTTPResponse
    {
        guard let digestText = query["digest"] else {
            throw RegistryError(.digestInvalid, "the digest query parameter is required to complete an upload")
        }
        let digest = try Digest(parsing: digestText)
        if let expected = try expectedOffset(request) {
            let size = try await registry.uploadSize(name, id)
            guard expected == size else {
                throw RegistryError(
                    .rangeInvalid, "chunk starts at \(expected) but the upload has \(size) bytes",
                    headers: [("Range", Registry.rangeHeader(size))])
            }
        }
        let blob = try await registry.finishUpload(name, id, digest: digest, body: request.body)
        return blobCreated(name, blob.digest, request)
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
        _ name: RepositoryName, _ id: UploadID, size: Int64, _ request: HTTPRequest, status: HTTPResponseStatus
    ) -> HTTPResponse {
        HTTPResponse(
            status: status,
            headers: [
                "Location": options.urls.upload(name, id.value, for: request),
                "Range": Registry.rangeHeader(size),
                "Docker-Upload-UUID": id.value,
                "Content-Length": "0",
            ])
    }

    private func blobCreated(_ name: RepositoryName, _ digest: Digest, _ request: HTTPRequest) -> HTTPResponse {
        HTTPResponse(
            status: .created,
            headers: [
                "Location": options.urls.blob(name, digest, for: request),
                "Docker-Content-Digest": digest.description,
                "Content-Length": "0",
            ])
    }
}
