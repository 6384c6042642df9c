public import AsyncHTTPClient
internal import Foundation
public import Logging
internal import NIOCore

/// registry:2's `storage.s3` transfer and object settings.
public struct S3DriverOptions: Sendable {
    /// `rootdirectory`: a prefix for every key (registry:2's layout goes below it).
    public var rootDirectory = ""
    /// `chunksize`: the size of each uploaded part (S3's minimum is 5 MiB).
    public var chunkSize = 10 << 20
    /// `multipartcopychunksize`, `multipartcopymaxconcurrency`, `multipartcopythresholdsize`:
    /// moves of objects past the threshold are copied in parts of the chunk size, so many at once.
    public var multipartCopyChunkSize: Int64 = 32 << 20
    public var multipartCopyMaxConcurrency = 100
    public var multipartCopyThresholdSize: Int64 = 32 << 20
    /// `storageclass`; nil for `NONE` (the bucket's default, for servers that know no classes).
    public var storageClass: String? = "STANDARD"
    /// `encrypt` and `keyid`: server-side encryption, with a KMS key when one is named.
    public var encrypt = false
    public var keyID: String?
    /// How long a presigned redirect URL is valid (registry:2: 20 minutes).
    public var redirectExpiry = 1200

    public static let minimumChunkSize = 5 << 20

    public init() {}
}

/// Stores objects in an S3 bucket under the same keys registry:2's S3 driver uses
/// (`<rootdirectory>/docker/registry/v2/…`), so that both can serve one bucket. "Directories"
/// are key prefixes, as in registry:2.
public struct S3Driver: StorageDriver {
    public let name = "s3"
    let client: S3Client
    let options: S3DriverOptions
    let root: String

    public init(
        http: HTTPClient, location: S3Location, credentials: S3Credentials, options: S3DriverOptions = .init(),
        logger: Logger
    ) throws {
        client = try S3Client(http: http, location: location, credentials: credentials, logger: logger)
        self.options = options
        var root = options.rootDirectory
        while root.hasSuffix("/") { root.removeLast() }
        self.root = root
    }

    /// registry:2's key for a path: the root directory and the path, without a leading `/`.
    func key(_ path: String) throws -> String {
        guard path.hasPrefix("/"), !path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            throw StorageError.invalidPath(path)
        }
        var key = root + (path == "/" ? "" : path)
        while key.hasPrefix("/") { key.removeFirst() }
        return key
    }

    /// The prefix under which a directory's children are.
    func prefix(_ key: String) -> String { key.isEmpty ? "" : key + "/" }

    /// Headers every object written gets: content type, storage class, encryption.
    var objectHeaders: [(String, String)] {
        var headers = [("content-type", "application/octet-stream")]
        if let storageClass = options.storageClass { headers.append(("x-amz-storage-class", storageClass)) }
        if options.encrypt {
            if let keyID = options.keyID {
                headers.append(("x-amz-server-side-encryption", "aws:kms"))
                headers.append(("x-amz-server-side-encryption-aws-kms-key-id", keyID))
            } else {
                headers.append(("x-amz-server-side-encryption", "AES256"))
            }
        }
        return headers
    }

    public func getContent(_ path: String) async throws -> [UInt8] {
        let key = try key(path)
        return try await explained(path) {
            guard let response = try await client.getObject(key) else { throw StorageError.notFound(path) }
            return try await S3Client.collect(response)
        }
    }

    public func putContent(_ path: String, _ bytes: [UInt8]) async throws {
        let key = try key(path)
        try await explained(path) { try await client.putObject(key, ByteBuffer(bytes: bytes), headers: objectHeaders) }
    }

    public func stat(_ path: String) async throws -> StorageInfo {
        let key = try key(path)
        return try await explained(path) {
            if !key.isEmpty, let object = try await client.headObject(key) {
                return StorageInfo(size: object.size, isDirectory: false, modified: object.modified)
            }
            let page = try await client.listObjects(prefix: prefix(key), delimiter: nil, maxKeys: 1)
            guard !page.keys.isEmpty else { throw StorageError.notFound(path) }
            return StorageInfo(size: 0, isDirectory: true, modified: 0)
        }
    }

    public func reader(_ path: String, offset: Int64, length: Int64?) async throws -> ByteChunks {
        let key = try key(path)
        return try await explained(path) {
            if length == 0 {
                _ = try await stat(path)
                return ByteChunks { nil as ByteBuffer? }
            }
            do {
                guard let response = try await client.getObject(key, offset: offset, length: length) else {
                    throw StorageError.notFound(path)
                }
                let body = ResponseBody(response.body)
                return ByteChunks(batches: { try await body.nextBatch() })
            } catch let failure as S3Failure where failure.code == "InvalidRange" {
                return ByteChunks { nil as ByteBuffer? }  // from the end of the object or past it: nothing
            }
        }
    }

    public func multipartUpload(_ path: String, readable: Bool) async throws -> any MultipartUpload {
        let key = try key(path)
        return try await explained(path) {
            if readable { return try await S3SegmentedUpload.open(self, key: key) }
            return try await S3Upload.open(self, path: path, key: key)
        }
    }

    public func uploadReader(_ path: String, offset: Int64) async throws -> ByteChunks {
        let key = try key(path)
        return try await explained(path) {
            let segments = try await S3SegmentedUpload.segments(client, key)
            // None: nothing stored yet, or completed in place (an object at the key).
            guard !segments.isEmpty else { return try await reader(path, offset: offset) }
            return SegmentsReader(client, path: path, segments: segments, from: offset).chunks
        }
    }

    /// Every page of a directory's children: names of objects and of "subdirectories" (key
    /// prefixes), in lexical order of the names.
    func children(_ key: String) async throws -> [(name: String, isDirectory: Bool)] {
        let prefix = prefix(key)
        var children: [(name: String, isDirectory: Bool)] = []
        var continuation: String?
        repeat {
            let page = try await client.listObjects(prefix: prefix, delimiter: "/", continuation: continuation)
            // An empty "folder" of some servers (SeaweedFS) lists itself as a key: no name.
            children += page.keys.map { (String($0.key.dropFirst(prefix.count)), false) }.filter { !$0.0.isEmpty }
            children += page.prefixes.map { (String($0.dropFirst(prefix.count).dropLast()), true) }
            continuation = page.next
        } while continuation != nil
        // S3 orders keys, not names: "v1.0/" comes before "v1/". A name that is both an object
        // and a prefix is listed once.
        children.sort { $0.name == $1.name ? $0.isDirectory && !$1.isDirectory : $0.name < $1.name }
        var unique: [(name: String, isDirectory: Bool)] = []
        for child in children where unique.last?.name != child.name { unique.append(child) }
        return unique
    }

    /// S3 lists a directory whole and in key order, which is not name order (see `children`),
    /// so a page is cut from the whole sorted listing.
    public func list(_ path: String, after: String?, limit: Int?) async throws -> [String] {
        let key = try key(path)
        return try await explained(path) {
            let children = try await children(key)
            // A directory is the prefix of some key: with none, there is no directory.
            guard !children.isEmpty else { throw StorageError.notFound(path) }
            var names = children.map(\.name)
            if let after { names.removeAll { $0 <= after } }
            if let limit, names.count > limit { names.removeLast(names.count - max(0, limit)) }
            return names
        }
    }

    public func directoryTree(
        _ path: String, enter: @escaping @Sendable (String) -> Bool
    ) async throws -> [DirectoryListing] {
        let top = try key(path)
        return try await explained(path) {
            let first = try await children(top)
            guard !first.isEmpty else { throw StorageError.notFound(path) }
            var tree = [DirectoryListing(path: "", children: first.map(\.name))]
            var level = first.filter { $0.isDirectory && enter($0.name) }.map(\.name)
            // Directories that turn out to hold nothing (empty folders some servers keep after a
            // delete) are taken out of their parent's children at the end.
            var empty: Set<String> = []
            // One listing per directory, a level at a time, many at once.
            while !level.isEmpty {
                var next: [String] = []
                for batch in stride(from: 0, to: level.count, by: 32).map({
                    Array(level[$0..<min($0 + 32, level.count)])
                }) {
                    let listings = try await withThrowingTaskGroup(
                        of: (String, [(name: String, isDirectory: Bool)]).self
                    ) {
                        group in
                        for relative in batch {
                            group.addTask { (relative, try await children(prefix(top) + relative)) }
                        }
                        var results: [(String, [(name: String, isDirectory: Bool)])] = []
                        for try await result in group { results.append(result) }
                        return results
                    }
                    for (relative, children) in listings {
                        guard !children.isEmpty else {
                            empty.insert(relative)
                            continue
                        }
                        tree.append(DirectoryListing(path: relative, children: children.map(\.name)))
                        next += children.filter { $0.isDirectory && enter($0.name) }.map { "\(relative)/\($0.name)" }
                    }
                }
                level = next
            }
            guard !empty.isEmpty else { return tree }
            return tree.map { listing in
                let base = listing.path.isEmpty ? "" : listing.path + "/"
                return DirectoryListing(
                    path: listing.path, children: listing.children.filter { !empty.contains(base + $0) })
            }
        }
    }

    public func move(from source: String, to destination: String) async throws {
        let (from, to) = (try key(source), try key(destination))
        try await explained(source) {
            guard let object = try await client.headObject(from) else { throw StorageError.notFound(source) }
            try await copy(from, size: object.size, to: to)
            try await client.deleteObject(from)
        }
    }

    /// A server-side copy: one request up to the threshold, parts copied side by side past it
    /// (CopyObject itself stops at 5 GiB).
    func copy(_ from: String, size: Int64, to: String) async throws {
        guard size > options.multipartCopyThresholdSize else {
            try await client.copyObject(from: from, to: to, headers: objectHeaders)
            return
        }
        let chunk = max(Int64(S3DriverOptions.minimumChunkSize), options.multipartCopyChunkSize)
        try await join(
            stride(from: Int64(0), to: size, by: Int(chunk)).map { (from, $0...min($0 + chunk, size) - 1) }, to: to)
    }

    /// One object made server-side of byte ranges of others, in order: a multipart upload of
    /// UploadPartCopy parts, `multipartcopymaxconcurrency` at a time. Every range but the last
    /// must be 5 MiB or more.
    func join(_ ranges: [(key: String, range: ClosedRange<Int64>)], to: String) async throws {
        let uploadID = try await client.createMultipartUpload(to, headers: objectHeaders)
        do {
            var parts: [S3Client.Part] = []
            let width = max(1, options.multipartCopyMaxConcurrency)
            for start in stride(from: 0, to: ranges.count, by: width) {
                let batch = Array(ranges.enumerated())[start..<min(start + width, ranges.count)]
                parts += try await withThrowingTaskGroup(of: S3Client.Part.self) { group in
                    for (index, source) in batch {
                        group.addTask {
                            try await client.uploadPartCopy(
                                to, uploadID: uploadID, number: index + 1, from: source.key, range: source.range)
                        }
                    }
                    var done: [S3Client.Part] = []
                    for try await part in group { done.append(part) }
                    return done
                }
            }
            try await client.completeMultipartUpload(
                to, uploadID: uploadID, parts: parts.sorted { $0.number < $1.number })
        } catch {
            try? await client.abortMultipartUpload(to, uploadID: uploadID)
            throw error
        }
    }

    public func delete(_ path: String) async throws {
        let key = try key(path)
        try await explained(path) {
            var keys: [String] = []
            if !key.isEmpty, try await client.headObject(key) != nil { keys.append(key) }
            var continuation: String?
            repeat {
                let page = try await client.listObjects(prefix: prefix(key), delimiter: nil, continuation: continuation)
                keys += page.keys.map(\.key)
                continuation = page.next
            } while continuation != nil
            guard !keys.isEmpty else { throw StorageError.notFound(path) }
            try await deleteInBatches(keys)
            // Servers with real folders (SeaweedFS) keep them after their last key goes, and
            // list them: the folders of the deleted tree go too, deepest first. (S3 itself has
            // no such keys and deletes nothing.)
            let root = prefix(key)
            var folders: Set<String> = root.isEmpty ? [] : [root]
            for deleted in keys where deleted.hasPrefix(root) {
                var rest = deleted.index(deleted.startIndex, offsetBy: root.count)
                while let slash = deleted[rest...].firstIndex(of: "/") {
                    folders.insert(String(deleted[...slash]))
                    rest = deleted.index(after: slash)
                }
            }
            try await deleteInBatches(folders.sorted { $0.count > $1.count })
        }
    }

    /// DeleteObjects of any number of keys, 1,000 per request.
    func deleteInBatches(_ keys: [String]) async throws {
        for start in stride(from: 0, to: keys.count, by: 1000) {
            try await client.deleteObjects(Array(keys[start..<min(start + 1000, keys.count)]))
        }
    }

    public func redirectURL(_ path: String) async throws -> String? {
        let requestPath = client.path(try key(path))
        let query = client.signer.presignedQuery(
            method: "GET", host: client.host, path: requestPath, expires: options.redirectExpiry, date: Date())
        return client.base + SigV4.encode(requestPath, keepSlash: true) + "?" + query
    }

    public func localFile(_ path: String) -> String? { nil }

    /// Runs an operation and turns what S3 refused into a storage error that says why, in the
    /// terms of the configuration to fix: credentials, bucket, region.
    func explained<T>(_ path: String, _ operation: () async throws -> T) async throws -> T {
        do {
            return try await operation()
        } catch let failure as S3Failure {
            throw StorageError.io(explanation(failure, path))
        }
    }

    func explanation(_ failure: S3Failure, _ path: String) -> String {
        let bucket = client.location.bucket
        switch failure.code {
        case "NoSuchBucket":
            return "S3 bucket \(bucket) does not exist (storage.s3.bucket)"
        case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken":
            return
                "S3 refused the credentials for bucket \(bucket) (\(failure.code): \(failure.message)); check storage.s3.accesskey and secretkey"
        case "AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException":
            let actual = failure.region.map { " is in region \($0)," } ?? ""
            return
                "S3 bucket \(bucket)\(actual) not in storage.s3.region \(client.location.region) (\(failure.code): \(failure.message))"
        default:
            return "S3 failed on \(path): \(failure)"
        }
    }
}

/// An S3 response body read by the one task that sends it on.
final class ResponseBody: @unchecked Sendable {
    private var iterator: HTTPClientResponse.Body.AsyncIterator

    init(_ body: HTTPClientResponse.Body) { iterator = body.makeAsyncIterator() }

    /// The body arrives in parts the size of a socket read (tens of KiB), and every part handed
    /// on alone costs its consumer a hop to the client's event loop and back: parts are handed
    /// on together, up to this many bytes. They are not copied into one buffer: that copy was a
    /// tenth of a pull's CPU.
    static let batch = 512 * 1024

    func next() async throws -> ByteBuffer? { try await iterator.next() }

    func nextBatch() async throws -> [ByteBuffer]? {
        guard let first = try await iterator.next() else { return nil }
        var parts = [first]
        var size = first.readableBytes
        while size < Self.batch, let part = try await iterator.next() {
            parts.append(part)
            size += part.readableBytes
        }
        return parts
    }
}
