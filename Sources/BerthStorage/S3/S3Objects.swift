internal import AsyncHTTPClient
internal import Crypto
internal import Foundation
internal import NIOCore
internal import NIOHTTP1

/// The S3 operations the driver is made of, each one request (or one page of a listing).
extension S3Client {
    struct Object: Sendable {
        let size: Int64
        let modified: Double
    }

    struct Page: Sendable {
        var keys: [(key: String, size: Int64)] = []
        var prefixes: [String] = []
        var next: String?
    }

    struct Part: Sendable {
        let number: Int
        let etag: String
        let size: Int64
    }

    func headObject(_ key: String) async throws -> Object? {
        do {
            let response = try await send(.HEAD, key)
            let size = response.headers.first(name: "content-length").flatMap(Int64.init) ?? 0
            return Object(size: size, modified: Self.date(response.headers.first(name: "last-modified")))
        } catch let failure as S3Failure where failure.status == 404 && failure.code != "NoSuchBucket" {
            return nil
        }
    }

    func putObject(_ key: String, _ bytes: ByteBuffer, headers: [(String, String)]) async throws {
        _ = try await send(.PUT, key, headers: headers, body: .bytes(bytes))
    }

    /// `length` bytes from `offset` (nil: to the end); nil when the key does not exist.
    func getObject(_ key: String, offset: Int64 = 0, length: Int64? = nil) async throws -> HTTPClientResponse? {
        var headers: [(String, String)] = []
        if offset > 0 || length != nil {
            let end = length.map { String(offset + $0 - 1) } ?? ""
            headers.append(("range", "bytes=\(offset)-\(end)"))
        }
        do {
            return try await send(.GET, key, headers: headers, expect: [200, 206], deadline: .hours(12))
        } catch let failure as S3Failure where failure.status == 404 && failure.code == "NoSuchKey" {
            return nil
        }
    }

    func deleteObject(_ key: String) async throws {
        _ = try await send(.DELETE, key, expect: [200, 204])
    }

    /// Deletes up to 1,000 keys in one request.
    func deleteObjects(_ keys: [String]) async throws {
        let objects = keys.map { "<Object><Key>\(S3XML.escape($0))</Key></Object>" }.joined()
        let body = Array("<Delete><Quiet>true</Quiet>\(objects)</Delete>".utf8)
        // S3 insists on a checksum of this body.
        let md5 = Data(Insecure.MD5.hash(data: body)).base64EncodedString()
        let response = try await send(
            .POST, nil, query: [("delete", "")], headers: [("content-md5", md5), ("content-type", "application/xml")],
            body: .bytes(ByteBuffer(bytes: body)))
        let result = try await Self.xml(response)
        if let error = result.child("Error") {
            throw S3Failure(
                status: 200, code: error.value("Code") ?? "InternalError",
                message: "deleting \(error.value("Key") ?? ""): \(error.value("Message") ?? "")", region: nil)
        }
    }

    /// One page of ListObjectsV2 under `prefix`: with a delimiter, the direct children only.
    func listObjects(
        prefix: String, delimiter: String?, startAfter: String? = nil, continuation: String? = nil, maxKeys: Int = 1000
    ) async throws -> Page {
        var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(maxKeys))]
        if let delimiter { query.append(("delimiter", delimiter)) }
        if let startAfter { query.append(("start-after", startAfter)) }
        if let continuation { query.append(("continuation-token", continuation)) }
        let result = try await Self.xml(try await send(.GET, nil, query: query))
        var page = Page()
        for entry in result.children("Contents") {
            guard let key = entry.value("Key") else { continue }
            page.keys.append((key, entry.value("Size").flatMap(Int64.init) ?? 0))
        }
        page.prefixes = result.children("CommonPrefixes").compactMap { $0.value("Prefix") }
        if result.value("IsTruncated") == "true" { page.next = result.value("NextContinuationToken") }
        return page
    }

    func copyObject(from source: String, to destination: String, headers: [(String, String)]) async throws {
        let response = try await send(
            .PUT, destination, headers: headers + [("x-amz-copy-source", copySource(source))])
        _ = try await Self.xml(response)
    }

    /// `bucket/key`, encoded as the copy-source header wants it.
    func copySource(_ key: String) -> String {
        SigV4.encode("\(location.bucket)/\(key)", keepSlash: true)
    }

    // MARK: multipart uploads

    func createMultipartUpload(_ key: String, headers: [(String, String)]) async throws -> String {
        let result = try await Self.xml(try await send(.POST, key, query: [("uploads", "")], headers: headers))
        guard let id = result.value("UploadId"), !id.isEmpty else {
            throw StorageError.io("S3 started a multipart upload of \(key) without an upload id")
        }
        return id
    }

    /// The multipart uploads in progress for exactly `key`, oldest first.
    func multipartUploads(_ key: String) async throws -> [String] {
        var uploads: [(id: String, initiated: String)] = []
        var markers: (key: String, id: String)?
        repeat {
            var query = [("uploads", ""), ("prefix", key)]
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.id)] }
            let result = try await Self.xml(try await send(.GET, nil, query: query))
            for upload in result.children("Upload") where upload.value("Key") == key {
                if let id = upload.value("UploadId") { uploads.append((id, upload.value("Initiated") ?? "")) }
            }
            markers = nil
            if result.value("IsTruncated") == "true", let nextKey = result.value("NextKeyMarker"),
                let nextID = result.value("NextUploadIdMarker")
            {
                markers = (nextKey, nextID)
            }
        } while markers != nil
        return uploads.sorted { $0.initiated < $1.initiated }.map(\.id)
    }

    func listParts(_ key: String, uploadID: String) async throws -> [Part] {
        var parts: [Part] = []
        var marker: String?
        repeat {
            var query = [("uploadId", uploadID)]
            if let marker { query.append(("part-number-marker", marker)) }
            let result = try await Self.xml(try await send(.GET, key, query: query))
            for part in result.children("Part") {
                guard let number = part.value("PartNumber").flatMap(Int.init), let etag = part.value("ETag") else {
                    continue
                }
                parts.append(Part(number: number, etag: etag, size: part.value("Size").flatMap(Int64.init) ?? 0))
            }
            marker = result.value("IsTruncated") == "true" ? result.value("NextPartNumberMarker") : nil
        } while marker != nil
        return parts.sorted { $0.number < $1.number }
    }

    func uploadPart(_ key: String, uploadID: String, number: Int, _ bytes: ByteBuffer) async throws -> Part {
        let response = try await send(
            .PUT, key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: .bytes(bytes))
        guard let etag = response.headers.first(name: "etag") else {
            throw StorageError.io("S3 took part \(number) of \(key) without an ETag")
        }
        return Part(number: number, etag: etag, size: Int64(bytes.readableBytes))
    }

    /// Copies bytes `range` of the object `source` in as one part.
    func uploadPartCopy(
        _ key: String, uploadID: String, number: Int, from source: String, range: ClosedRange<Int64>
    ) async throws -> Part {
        let response = try await send(
            .PUT, key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
            headers: [
                ("x-amz-copy-source", copySource(source)),
                ("x-amz-copy-source-range", "bytes=\(range.lowerBound)-\(range.upperBound)"),
            ])
        guard let etag = try await Self.xml(response).value("ETag") else {
            throw StorageError.io("S3 copied part \(number) of \(key) without an ETag")
        }
        return Part(number: number, etag: etag, size: range.upperBound - range.lowerBound + 1)
    }

    func completeMultipartUpload(_ key: String, uploadID: String, parts: [Part]) async throws {
        let list = parts.map {
            "<Part><PartNumber>\($0.number)</PartNumber><ETag>\(S3XML.escape($0.etag))</ETag></Part>"
        }
        let body = Array("<CompleteMultipartUpload>\(list.joined())</CompleteMultipartUpload>".utf8)
        let response = try await send(
            .POST, key, query: [("uploadId", uploadID)], headers: [("content-type", "application/xml")],
            body: .bytes(ByteBuffer(bytes: body)))
        _ = try await Self.xml(response)
    }

    func abortMultipartUpload(_ key: String, uploadID: String) async throws {
        do {
            _ = try await send(.DELETE, key, query: [("uploadId", uploadID)], expect: [200, 204])
        } catch let failure as S3Failure where failure.code == "NoSuchUpload" {}
    }

    /// `Last-Modified` as seconds since 1970; 0 (long ago) when missing or unreadable.
    static func date(_ text: String?) -> Double {
        text.flatMap { HTTPDate.seconds($0[...]) } ?? 0
    }
}
