internal import BerthHTTP
internal import BerthRegistry
internal import NIOCore
internal import NIOHTTP1
internal import OCI

extension RegistryAPI {
    /// `GET`/`HEAD /v2/<name>/blobs/<digest>`, with single byte ranges.
    func getBlob(_ repository: Repository, _ digest: Digest, _ context: RequestContext) async throws -> HTTPResponse {
        let request = context.request
        let blob = try await repository.blob(digest, download: request.method == .GET)
        var headers = HTTPHeaders([
            ("Content-Type", "application/octet-stream"),
            ("Docker-Content-Digest", digest.description),
            ("ETag", "\"\(digest)\""),
            ("Accept-Ranges", "bytes"),
            ("Cache-Control", "max-age=31536000"),
        ])
        var status = HTTPResponseStatus.ok
        var offset: Int64 = 0
        var length = blob.size
        if let range = try ByteRange.parse(request.headers.first(name: "range"), size: blob.size) {
            status = .partialContent
            offset = range.start
            length = range.length
            headers.add(name: "Content-Range", value: "bytes \(range.start)-\(range.end)/\(blob.size)")
        }
        headers.add(name: "Content-Length", value: String(length))
        if request.method == .HEAD {
            return HTTPResponse(status: status, headers: headers)
        }
        notifyBlob("pull", repository, blob, context)
        let body: HTTPResponse.Body
        switch try await repository.content(blob, from: offset, length: length) {
        case .redirect(let url):
            return HTTPResponse(
                status: .temporaryRedirect, headers: ["Location": url, "Docker-Content-Digest": digest.description])
        case .localFile(let path):
            body = .file(path: path, offset: offset, length: length)
        case .stream(let chunks):
            let limited = LimitedChunks(chunks, limit: length)
            body = .stream(length: length, next: { try await limited.nextBatch() })
        }
        return HTTPResponse(status: status, headers: headers, body: body)
    }
}
