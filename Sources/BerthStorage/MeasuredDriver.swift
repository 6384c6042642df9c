public import CoreMetrics
internal import NIOCore

/// A driver whose every call is timed, for `berth_storage_operation_duration_seconds` by driver
/// and operation. Put in front of the real driver only when metrics are served, so that a
/// registry without them pays nothing. A read is timed until its first bytes are ready, not
/// to the end of the stream (that is the client's pace).
public struct MeasuredDriver: StorageDriver {
    let driver: any StorageDriver
    let timers: [Operation: Timer]

    enum Operation: String, CaseIterable {
        case getContent, putContent, stat, reader, multipartUpload, uploadReader, list, directoryTree, move, delete
        case redirectURL
    }

    public init(_ driver: any StorageDriver, factory: any MetricsFactory) {
        self.driver = driver
        var timers: [Operation: Timer] = [:]
        for operation in Operation.allCases {
            timers[operation] = Timer(
                label: "berth_storage_operation_duration_seconds",
                dimensions: [("driver", driver.name), ("operation", operation.rawValue)],
                preferredDisplayUnit: .seconds,
                factory: factory)
        }
        self.timers = timers
    }

    private func timed<T>(_ operation: Operation, _ body: () async throws -> T) async throws -> T {
        let started = ContinuousClock.now
        defer {
            let elapsed = (ContinuousClock.now - started).components
            timers[operation]?.recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
        }
        return try await body()
    }

    public var name: String { driver.name }

    public func getContent(_ path: String) async throws -> [UInt8] {
        try await timed(.getContent) { try await driver.getContent(path) }
    }

    public func putContent(_ path: String, _ bytes: [UInt8]) async throws {
        try await timed(.putContent) { try await driver.putContent(path, bytes) }
    }

    public func stat(_ path: String) async throws -> StorageInfo {
        try await timed(.stat) { try await driver.stat(path) }
    }

    public func reader(_ path: String, offset: Int64, length: Int64?) async throws -> ByteChunks {
        try await timed(.reader) { try await driver.reader(path, offset: offset, length: length) }
    }

    public func multipartUpload(_ path: String, readable: Bool) async throws -> any MultipartUpload {
        try await timed(.multipartUpload) { try await driver.multipartUpload(path, readable: readable) }
    }

    public func uploadReader(_ path: String, offset: Int64) async throws -> ByteChunks {
        try await timed(.uploadReader) { try await driver.uploadReader(path, offset: offset) }
    }

    public func list(_ path: String, after: String?, limit: Int?) async throws -> [String] {
        try await timed(.list) { try await driver.list(path, after: after, limit: limit) }
    }

    public func directoryTree(
        _ path: String, enter: @escaping @Sendable (String) -> Bool
    ) async throws
        -> [DirectoryListing]
    {
        try await timed(.directoryTree) { try await driver.directoryTree(path, enter: enter) }
    }

    public func move(from source: String, to destination: String) async throws {
        try await timed(.move) { try await driver.move(from: source, to: destination) }
    }

    public func delete(_ path: String) async throws {
        try await timed(.delete) { try await driver.delete(path) }
    }

    public func redirectURL(_ path: String) async throws -> String? {
        try await timed(.redirectURL) { try await driver.redirectURL(path) }
    }

    public func localFile(_ path: String) -> String? { driver.localFile(path) }

    public func contentImmediately(_ path: String, upTo limit: Int) -> [UInt8]? {
        driver.contentImmediately(path, upTo: limit)
    }
}
