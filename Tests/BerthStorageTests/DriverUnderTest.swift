import AsyncHTTPClient
import BerthStorage
import Foundation
import Logging
import NIOCore
import Testing

/// A storage driver the conformance suite runs against: how to make one on fresh, empty
/// storage. Every driver Berth ships is listed in `all`; a new driver joins the suite by
/// adding itself here.
struct DriverUnderTest: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () async throws -> any StorageDriver

    var testDescription: String { name }

    /// The filesystem always; S3 when `scripts/test.sh` has started SeaweedFS and said where
    /// (`BERTH_TEST_S3_*`), which it always does — and `BERTH_TEST_S3_REQUIRED` makes a
    /// missing S3 server a failure rather than a skip.
    static let all: [DriverUnderTest] = [filesystem] + (s3.map { [$0] } ?? [])

    static let filesystem = DriverUnderTest(name: "filesystem") {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-fs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return FilesystemDriver(root: root)
    }

    /// Each test gets its own root directory in the shared test bucket. Small transfer sizes,
    /// so that a test's few MiB cross every part and copy boundary.
    static let s3: DriverUnderTest? = S3TestServer.current.map { server in
        DriverUnderTest(name: "s3") {
            var options = S3DriverOptions()
            options.rootDirectory = "/conformance-\(UUID().uuidString.lowercased())"
            options.chunkSize = S3DriverOptions.minimumChunkSize
            options.multipartCopyThresholdSize = 5 << 20
            options.multipartCopyChunkSize = 5 << 20
            options.multipartCopyMaxConcurrency = 4
            return try server.driver(options)
        }
    }
}

/// The S3 server the tests were given.
struct S3TestServer: Sendable {
    let location: S3Location
    let credentials: S3Credentials

    static let current: S3TestServer? = {
        let environment = ProcessInfo.processInfo.environment
        guard let endpoint = environment["BERTH_TEST_S3_ENDPOINT"], let bucket = environment["BERTH_TEST_S3_BUCKET"]
        else {
            precondition(
                environment["BERTH_TEST_S3_REQUIRED"] == nil,
                "BERTH_TEST_S3_REQUIRED is set but BERTH_TEST_S3_ENDPOINT/BUCKET are not")
            return nil
        }
        return S3TestServer(
            location: S3Location(
                bucket: bucket, region: environment["BERTH_TEST_S3_REGION"] ?? "us-east-1", endpoint: endpoint,
                forcePathStyle: true, secure: false),
            credentials: S3Credentials(
                accessKey: environment["BERTH_TEST_S3_ACCESSKEY"] ?? "",
                secretKey: environment["BERTH_TEST_S3_SECRETKEY"] ?? ""))
    }()

    func driver(
        _ options: S3DriverOptions = .init(), location: S3Location? = nil, credentials: S3Credentials? = nil
    ) throws -> S3Driver {
        try S3Driver(
            http: HTTPClient.shared, location: location ?? self.location, credentials: credentials ?? self.credentials,
            options: options, logger: Logger(label: "test"))
    }
}

/// Everything a chunk stream yields.
func collect(_ chunks: ByteChunks) async throws -> [UInt8] {
    var out: [UInt8] = []
    for try await chunk in chunks { out += chunk.readableBytesView }
    return out
}

/// Bytes that differ from offset to offset, so that a misplaced range shows.
func patterned(_ count: Int, seed: UInt8 = 7) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* Int(seed) &+ $0 >> 16) }
}

extension MultipartUpload {
    /// Writes `bytes` as one part, in buffers of `piece` bytes (as a request body arrives).
    func writePart(_ bytes: some Collection<UInt8>, piece: Int = 65_536) async throws {
        let array = Array(bytes)
        for start in stride(from: 0, to: array.count, by: piece) {
            try await write(ByteBuffer(bytes: array[start..<min(start + piece, array.count)]))
        }
        try await finishPart()
    }
}
