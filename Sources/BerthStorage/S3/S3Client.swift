internal import AsyncHTTPClient
internal import Foundation
internal import Logging
internal import NIOCore
internal import NIOHTTP1

/// Where a bucket is and how to reach it: registry:2's `storage.s3` location keys.
public struct S3Location: Sendable {
    public var bucket: String
    public var region: String
    /// `regionendpoint`: an S3-compatible server (`http://127.0.0.1:8333`, `minio:9000`);
    /// nil for AWS itself.
    public var endpoint: String?
    /// `forcepathstyle`: `host/bucket/key` instead of `bucket.host/key`.
    public var forcePathStyle: Bool
    /// `secure`: HTTPS unless the endpoint names its scheme.
    public var secure: Bool

    public init(
        bucket: String, region: String, endpoint: String? = nil, forcePathStyle: Bool = false, secure: Bool = true
    ) {
        self.bucket = bucket
        self.region = region
        self.endpoint = endpoint
        self.forcePathStyle = forcePathStyle
        self.secure = secure
    }
}

/// What S3 answered when it refused a request: its status, error code and message.
struct S3Failure: Error, CustomStringConvertible {
    let status: UInt
    let code: String
    let message: String
    /// The bucket's region, when S3 says the request went to the wrong one.
    let region: String?

    var description: String { "\(code) (\(status)): \(message)" }
}

/// The requests the S3 driver makes, signed, retried and checked: a small client on
/// async-http-client, since no Swift S3 package is available here.
struct S3Client: Sendable {
    let http: HTTPClient
    let location: S3Location
    let signer: SigV4
    let logger: Logger
    /// `scheme://host[:port]` and the host header, from the endpoint and the addressing style.
    let base: String
    let host: String
    let pathStyle: Bool

    static let attempts = 5

    init(http: HTTPClient, location: S3Location, credentials: S3Credentials, logger: Logger) throws {
        self.http = http
        self.location = location
        self.logger = logger
        signer = SigV4(credentials: credentials, region: location.region)
        var scheme = location.secure ? "https" : "http"
        var authority = "s3.\(location.region).amazonaws.com"
        if var endpoint = location.endpoint {
            if let range = endpoint.range(of: "://") {
                scheme = String(endpoint[..<range.lowerBound]).lowercased()
                endpoint = String(endpoint[range.upperBound...])
            }
            while endpoint.hasSuffix("/") { endpoint.removeLast() }
            guard !endpoint.isEmpty, !endpoint.contains("/"), scheme == "http" || scheme == "https" else {
                throw StorageError.io("storage.s3.regionendpoint \(location.endpoint!) is not a host[:port] or URL")
            }
            authority = endpoint
        }
        // Bucket names with dots break TLS names in the virtual-host style; such buckets, and
        // every S3-compatible server, are reached by path.
        pathStyle = location.forcePathStyle || location.endpoint != nil || location.bucket.contains(".")
        host = pathStyle ? authority : "\(location.bucket).\(authority)"
        base = "\(scheme)://\(host)"
    }

    /// The path part of a request for `key` (nil: the bucket itself).
    func path(_ key: String?) -> String {
        let objectPath = key.map { "/\($0)" } ?? "/"
        return pathStyle ? "/\(location.bucket)\(key.map { "/\($0)" } ?? "")" : objectPath
    }

    enum Body: Sendable {
        case none
        case bytes(ByteBuffer)
    }

    /// Sends a request and returns the response when its status is one of `expect`; throws
    /// `S3Failure` for any other. Answers S3 asks to retry (500, 503 `SlowDown`) and broken
    /// connections are tried again with backoff; every body here is in memory, so each attempt
    /// sends it whole again.
    func send(
        _ method: HTTPMethod, _ key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
        body: Body = .none, expect: Set<UInt> = [200], deadline: TimeAmount = .seconds(300)
    ) async throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let response = try await sendOnce(method, key, query, headers, body, deadline)
                if expect.contains(response.status.code) { return response }
                let failure = await Self.failure(response)
                guard Self.retryable(failure), attempt < Self.attempts else { throw failure }
                logger.debug("S3 asked to retry", metadata: ["key": "\(key ?? "")", "error": "\(failure)"])
            } catch let failure as S3Failure {
                throw failure
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                guard attempt < Self.attempts else {
                    throw StorageError.io("S3 \(method) \(key ?? location.bucket) failed: \(error)")
                }
                logger.debug("S3 request failed; retrying", metadata: ["key": "\(key ?? "")", "error": "\(error)"])
            }
            // 50 ms, 100 ms, 200 ms, 400 ms, with jitter so that replicas do not retry in step.
            let backoff = 50 * (1 << (attempt - 1))
            try await Task.sleep(for: .milliseconds(backoff + Int.random(in: 0...(backoff / 2))))
        }
    }

    private func sendOnce(
        _ method: HTTPMethod, _ key: String?, _ query: [(String, String)], _ headers: [(String, String)],
        _ body: Body, _ deadline: TimeAmount
    ) async throws -> HTTPClientResponse {
        let path = path(key)
        let queryString = signer.canonicalQuery(query)
        var request = HTTPClientRequest(
            url: base + SigV4.encode(path, keepSlash: true) + (queryString.isEmpty ? "" : "?\(queryString)"))
        request.method = method
        var toSign = [("host", host)] + headers
        let payloadHash: String
        switch body {
        case .none:
            payloadHash = SigV4.emptyPayloadHash
            if method == .PUT || method == .POST { toSign.append(("content-length", "0")) }
        case .bytes(let buffer):
            // Integrity is the registry's own business (every blob is verified against its
            // digest); hashing each part again for the signature would cost a core.
            payloadHash = "UNSIGNED-PAYLOAD"
            request.body = .bytes(buffer)
            toSign.append(("content-length", String(buffer.readableBytes)))
        }
        for (name, value) in signer.signedHeaders(
            method: method.rawValue, path: path, query: query, headers: toSign, payloadHash: payloadHash,
            date: Date())
        {
            request.headers.add(name: name, value: value)
        }
        return try await http.execute(request, deadline: .now() + deadline)
    }

    static func retryable(_ failure: S3Failure) -> Bool {
        [500, 502, 503, 504].contains(failure.status)
            || ["SlowDown", "InternalError", "RequestTimeout", "ServiceUnavailable"].contains(failure.code)
    }

    /// The `<Error>` S3 sent, or what its status says when it sent none (HEAD has no body).
    static func failure(_ response: HTTPClientResponse) async -> S3Failure {
        let bytes = (try? await response.body.collect(upTo: 64 * 1024)).map { Array($0.readableBytesView) } ?? []
        let error = try? S3XML.parse(bytes)
        let fallback: String =
            switch response.status.code {
            case 404: "NoSuchKey"
            case 403: "AccessDenied"
            case 301: "PermanentRedirect"
            default: "HTTP\(response.status.code)"
            }
        return S3Failure(
            status: response.status.code, code: error?.value("Code") ?? fallback,
            message: error?.value("Message") ?? response.status.reasonPhrase,
            region: error?.value("Region") ?? response.headers.first(name: "x-amz-bucket-region"))
    }

    /// A whole small response body (listings, upload ids, objects read by `getContent`).
    static func collect(_ response: HTTPClientResponse, limit: Int = 64 << 20) async throws -> [UInt8] {
        Array(try await response.body.collect(upTo: limit).readableBytesView)
    }

    /// A response body as XML; a `200` can still carry an `<Error>` (CopyObject and
    /// CompleteMultipartUpload send one when they fail after starting to answer).
    static func xml(_ response: HTTPClientResponse) async throws -> S3XML {
        let document = try S3XML.parse(try await collect(response))
        if document.name == "Error" {
            throw S3Failure(
                status: response.status.code, code: document.value("Code") ?? "InternalError",
                message: document.value("Message") ?? "", region: document.value("Region"))
        }
        return document
    }
}
