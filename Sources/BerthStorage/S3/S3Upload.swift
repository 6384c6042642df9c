internal import AsyncHTTPClient
internal import Foundation
internal import NIOCore

/// A driver `MultipartUpload` as an S3 multipart upload of the path's key, with its state kept
/// in the bucket so that any replica goes on with it:
///
/// - the S3 multipart upload of the key (found again with ListMultipartUploads) and its parts,
///   each `chunksize` bytes;
/// - the tail: the bytes after the last part, too few to be a part before the last (S3 wants
///   5 MiB), in an object `<key>.tail.<n>`, where `n` is the number of the part it will
///   become. A request that then uploads part `n` makes that tail stale, so a replica that dies
///   between the part and the next tail leaves a state that is still whole;
/// - an object already at the key (an upload completed where it is) counts as the first bytes.
///
/// At most one part is uploaded while the next is received, so memory stays at two parts.
final class S3Upload: MultipartUpload, @unchecked Sendable {
    // Only touched by the one task that owns the upload.
    private let driver: S3Driver
    private let key: String
    private var client: S3Client { driver.client }
    private var uploadID: String?
    /// Older multipart uploads of the same key (left by a race); removed at the end.
    private var strays: [String]
    private var parts: [S3Client.Part]
    /// The stored tail that is current, if any.
    private var tail: (number: Int, size: Int64)?
    /// The size of an object at the key that this upload continues after.
    private var base: Int64
    /// Bytes not yet in a part (and, once `loaded`, the stored tail's or small base's too).
    private var pending = ByteBuffer()
    private var loaded = false
    private var written = false
    private var inFlight: Task<S3Client.Part, any Error>?
    private(set) var size: Int64

    private var chunkSize: Int { max(S3DriverOptions.minimumChunkSize, driver.options.chunkSize) }
    private var nextNumber: Int { (parts.last?.number ?? 0) + 1 + (inFlight == nil ? 0 : 1) }

    private init(
        driver: S3Driver, key: String, uploads: [String], parts: [S3Client.Part], tail: (Int, Int64)?, base: Int64
    ) {
        self.driver = driver
        self.key = key
        uploadID = uploads.last
        strays = uploads.dropLast()
        self.parts = parts
        self.tail = tail
        self.base = base
        size = parts.reduce(0) { $0 + $1.size } + (tail?.1 ?? 0) + base
    }

    static func open(_ driver: S3Driver, path: String, key: String) async throws -> S3Upload {
        let client = driver.client
        let uploads = try await client.multipartUploads(key)
        var parts: [S3Client.Part] = []
        if let last = uploads.last { parts = try await client.listParts(key, uploadID: last) }
        let next = (parts.last?.number ?? 0) + 1
        let tail = try await tails(client, key).first { $0.number == next }
        var base: Int64 = 0
        if uploads.isEmpty, tail == nil, let object = try await client.headObject(key) { base = object.size }
        return S3Upload(driver: driver, key: key, uploads: uploads, parts: parts, tail: tail, base: base)
    }

    static func tailKey(_ key: String, _ number: Int) -> String { "\(key).tail.\(number)" }

    /// Every stored tail of the key, current or stale.
    static func tails(_ client: S3Client, _ key: String) async throws -> [(number: Int, size: Int64)] {
        let prefix = "\(key).tail."
        return try await client.listObjects(prefix: prefix, delimiter: nil).keys.compactMap { entry in
            Int(entry.key.dropFirst(prefix.count)).map { ($0, entry.size) }
        }
    }

    func write(_ buffer: ByteBuffer) async throws {
        guard buffer.readableBytes > 0 else { return }
        if !loaded { try await load() }
        written = true
        var buffer = buffer
        size += Int64(buffer.readableBytes)
        pending.writeBuffer(&buffer)
        while pending.readableBytes >= chunkSize {
            var part = pending
            pending = ByteBuffer()
            let rest = part.readableBytes - chunkSize
            if rest > 0 {
                pending = part.getSlice(at: part.readerIndex + chunkSize, length: rest)!
                part.moveWriterIndex(to: part.readerIndex + chunkSize)
            }
            try await startPart(part)
        }
    }

    /// Brings what this upload continues after into `pending`, or into parts when it is large.
    private func load() async throws {
        loaded = true
        if let tail {
            pending = try await read(Self.tailKey(key, tail.number))
        } else if base > 0 {
            if base < S3DriverOptions.minimumChunkSize {
                pending = try await read(key)
            } else {
                try await copyBaseIntoParts()
            }
            base = 0
        }
    }

    private func read(_ key: String) async throws -> ByteBuffer {
        guard let response = try await client.getObject(key) else {
            throw StorageError.io("S3 upload \(self.key): \(key) vanished while in use")
        }
        return try await response.body.collect(upTo: chunkSize * 2)
    }

    /// A large object at the key becomes the upload's first parts by server-side copies, in
    /// ranges of at least 5 MiB (a short last range joins the one before it).
    private func copyBaseIntoParts() async throws {
        let id = try await begin()
        let chunk = max(Int64(S3DriverOptions.minimumChunkSize), min(driver.options.multipartCopyChunkSize, 5 << 30))
        var start: Int64 = 0
        while start < base {
            var end = min(start + chunk, base)
            if base - end < S3DriverOptions.minimumChunkSize { end = base }
            parts.append(
                try await client.uploadPartCopy(
                    key, uploadID: id, number: nextNumber, from: key, range: start...(end - 1)))
            start = end
        }
    }

    private func begin() async throws -> String {
        if let uploadID { return uploadID }
        let id = try await client.createMultipartUpload(key, headers: driver.objectHeaders)
        uploadID = id
        return id
    }

    private func startPart(_ part: ByteBuffer) async throws {
        try await awaitInFlight()
        let id = try await begin()
        let (client, key, number) = (self.client, self.key, nextNumber)
        inFlight = Task { try await client.uploadPart(key, uploadID: id, number: number, part) }
    }

    private func awaitInFlight() async throws {
        guard let task = inFlight else { return }
        inFlight = nil
        parts.append(try await task.value)
    }

    func finishPart() async throws {
        guard written else { return }
        written = false
        try await awaitInFlight()
        if pending.readableBytes >= S3DriverOptions.minimumChunkSize {
            let part = pending
            pending = ByteBuffer()
            try await startPart(part)
            try await awaitInFlight()
        }
        let stale = tail
        tail = nil
        if pending.readableBytes > 0 {
            let number = nextNumber
            try await client.putObject(Self.tailKey(key, number), pending, headers: driver.objectHeaders)
            tail = (number, Int64(pending.readableBytes))
        }
        // Only after the new state is stored is the old tail removed.
        if let stale, stale.number != tail?.number {
            try await client.deleteObject(Self.tailKey(key, stale.number))
        }
    }

    func complete(at destination: String) async throws {
        let target = try driver.key(destination)
        try await awaitInFlight()
        if let uploadID {
            if pending.readableBytes > 0 {
                parts.append(try await client.uploadPart(key, uploadID: uploadID, number: nextNumber, pending))
            } else if !loaded, let tail {
                parts.append(
                    try await client.uploadPartCopy(
                        key, uploadID: uploadID, number: nextNumber, from: Self.tailKey(key, tail.number),
                        range: 0...(tail.size - 1)))
            }
            try await client.completeMultipartUpload(key, uploadID: uploadID, parts: parts)
            if target != key {
                try await driver.copy(key, size: size, to: target)
                try await client.deleteObject(key)
            }
        } else {
            if loaded || (tail == nil && base == 0) {
                try await client.putObject(target, pending, headers: driver.objectHeaders)
            } else if let tail {
                try await driver.copy(Self.tailKey(key, tail.number), size: tail.size, to: target)
            } else if target != key {
                try await driver.copy(key, size: base, to: target)
            }
            // An object at the key is part of what was just completed elsewhere.
            if target != key { try await client.deleteObject(key) }
        }
        try await removeState(completed: true)
    }

    func abort() async throws {
        if let task = inFlight {
            inFlight = nil
            _ = try? await task.value
        }
        try await removeState(completed: false)
        try await client.deleteObject(key)
    }

    /// Removes the tails and the multipart uploads (the completed one is gone by itself).
    private func removeState(completed: Bool) async throws {
        for stray in strays { try await client.abortMultipartUpload(key, uploadID: stray) }
        if !completed, let uploadID { try await client.abortMultipartUpload(key, uploadID: uploadID) }
        for tail in try await Self.tails(client, key) {
            try await client.deleteObject(Self.tailKey(key, tail.number))
        }
        uploadID = nil
        strays = []
        parts = []
        tail = nil
        base = 0
        pending = ByteBuffer()
        loaded = false
        written = false
        size = 0
    }
}
