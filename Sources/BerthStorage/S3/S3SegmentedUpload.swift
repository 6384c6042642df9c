internal import AsyncHTTPClient
internal import NIOCore

/// A `readable` driver upload on S3: the parts of an S3 multipart upload cannot be read before
/// it completes, so here each part is an object of its own, `<key>.segment.<n>` from 1, which a
/// replica following this one's mirror download reads as soon as it is stored
/// (`S3Driver.uploadReader`).
///
/// Every segment but the last holds exactly `chunksize` bytes; the last one is rewritten, longer,
/// each time a part ends before it is full, so that the segments are always the bytes so far
/// in order, whoever opens the upload next. Completing joins them server-side with
/// UploadPartCopy (one copy of the bytes, as moving an ordinary upload's object costs) and
/// removes them. At most one segment is stored while the next is received.
final class S3SegmentedUpload: MultipartUpload, @unchecked Sendable {
    // Only touched by the one task that owns the upload.
    private let driver: S3Driver
    private let key: String
    private var client: S3Client { driver.client }
    /// Sizes of the full segments stored or being stored (the one in flight included).
    private var full: [Int64]
    /// Size of the short last segment stored after them, 0 for none.
    private var short: Int64
    /// The bytes of the segment after the full ones, once `loaded` (the short one's included).
    private var pending = ByteBuffer()
    private var loaded = false
    /// Whether `pending` holds bytes the short segment does not.
    private var unstored = false
    private var inFlight: Task<Void, any Error>?
    private(set) var size: Int64

    private var chunkSize: Int { max(S3DriverOptions.minimumChunkSize, driver.options.chunkSize) }

    private init(driver: S3Driver, key: String, segments: [Int64]) {
        self.driver = driver
        self.key = key
        let chunk = Int64(max(S3DriverOptions.minimumChunkSize, driver.options.chunkSize))
        if let last = segments.last, last < chunk {
            full = segments.dropLast()
            short = last
        } else {
            full = segments
            short = 0
        }
        size = segments.reduce(0, +)
    }

    static func open(_ driver: S3Driver, key: String) async throws -> S3SegmentedUpload {
        S3SegmentedUpload(driver: driver, key: key, segments: try await segments(driver.client, key).map(\.size))
    }

    static func segmentKey(_ key: String, _ number: Int) -> String { "\(key).segment.\(number)" }

    /// The stored segments of the upload at `key`, in order.
    static func segments(_ client: S3Client, _ key: String) async throws -> [(key: String, size: Int64)] {
        let prefix = "\(key).segment."
        var found: [(number: Int, key: String, size: Int64)] = []
        var continuation: String?
        repeat {
            let page = try await client.listObjects(prefix: prefix, delimiter: nil, continuation: continuation)
            for entry in page.keys {
                if let number = Int(entry.key.dropFirst(prefix.count)) { found.append((number, entry.key, entry.size)) }
            }
            continuation = page.next
        } while continuation != nil
        return found.sorted { $0.number < $1.number }.map { ($0.key, $0.size) }
    }

    func write(_ buffer: ByteBuffer) async throws {
        guard buffer.readableBytes > 0 else { return }
        if !loaded { try await load() }
        var buffer = buffer
        size += Int64(buffer.readableBytes)
        pending.writeBuffer(&buffer)
        unstored = true
        while pending.readableBytes >= chunkSize {
            var segment = pending
            pending = ByteBuffer()
            if segment.readableBytes > chunkSize {
                pending = segment.getSlice(
                    at: segment.readerIndex + chunkSize, length: segment.readableBytes - chunkSize)!
                segment.moveWriterIndex(to: segment.readerIndex + chunkSize)
            }
            try await awaitInFlight()
            let (client, segmentKey, headers) = (client, Self.segmentKey(key, full.count + 1), driver.objectHeaders)
            full.append(Int64(segment.readableBytes))
            short = 0  // the full segment takes the short one's key
            inFlight = Task { try await client.putObject(segmentKey, segment, headers: headers) }
        }
    }

    /// Brings the short last segment back into `pending`, to grow it.
    private func load() async throws {
        loaded = true
        guard short > 0 else { return }
        let segmentKey = Self.segmentKey(key, full.count + 1)
        guard let response = try await client.getObject(segmentKey) else {
            throw StorageError.io("S3 upload \(key): \(segmentKey) vanished while in use")
        }
        pending = try await response.body.collect(upTo: chunkSize)
    }

    private func awaitInFlight() async throws {
        guard let task = inFlight else { return }
        inFlight = nil
        try await task.value
    }

    func finishPart() async throws {
        try await awaitInFlight()
        guard unstored, pending.readableBytes > 0 else { return }
        try await client.putObject(Self.segmentKey(key, full.count + 1), pending, headers: driver.objectHeaders)
        short = Int64(pending.readableBytes)
        unstored = false
    }

    func complete(at destination: String) async throws {
        let target = try driver.key(destination)
        try await finishPart()
        var sources = full.enumerated().map { (Self.segmentKey(key, $0.offset + 1), $0.element) }
        if short > 0 { sources.append((Self.segmentKey(key, full.count + 1), short)) }
        switch sources.count {
        case 0: try await client.putObject(target, ByteBuffer(), headers: driver.objectHeaders)
        case 1: try await driver.copy(sources[0].0, size: sources[0].1, to: target)
        default: try await driver.join(sources.map { ($0.0, 0...($0.1 - 1)) }, to: target)
        }
        try await removeSegments()
    }

    func abort() async throws {
        if let task = inFlight {
            inFlight = nil
            _ = try? await task.value
        }
        try await removeSegments()
    }

    private func removeSegments() async throws {
        try await driver.deleteInBatches(try await Self.segments(client, key).map(\.key))
        full = []
        short = 0
        pending = ByteBuffer()
        loaded = false
        unstored = false
        size = 0
    }
}

/// The bytes of stored segments from an offset, one ranged GET per segment, in order.
final class SegmentsReader: @unchecked Sendable {
    // Only touched by the one task that reads.
    private let client: S3Client
    private let path: String
    private var segments: ArraySlice<(key: String, size: Int64)>
    /// Where in the first remaining segment to start.
    private var offset: Int64
    private var body: ResponseBody?

    init(_ client: S3Client, path: String, segments: [(key: String, size: Int64)], from offset: Int64) {
        self.client = client
        self.path = path
        var offset = offset
        var rest = segments[...]
        while let first = rest.first, offset >= first.size {
            offset -= first.size
            rest = rest.dropFirst()
        }
        self.segments = rest
        self.offset = offset
    }

    var chunks: ByteChunks { ByteChunks { try await self.next() } }

    private func next() async throws -> ByteBuffer? {
        while true {
            if let body, let chunk = try await body.next() { return chunk }
            body = nil
            guard let segment = segments.popFirst() else { return nil }
            // Gone: the upload completed (or was aborted) while it was read.
            guard let response = try await client.getObject(segment.key, offset: offset, length: segment.size - offset)
            else { throw StorageError.notFound(path) }
            offset = 0
            body = ResponseBody(response.body)
        }
    }
}
