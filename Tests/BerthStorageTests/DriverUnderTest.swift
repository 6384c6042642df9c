import BerthStorage
import Foundation
import NIOCore
import Testing

/// A storage driver the conformance suite runs against: how to make one on fresh, empty
/// storage. Every driver Berth ships is listed in `all`; a new driver joins the suite by
/// adding itself here.
struct DriverUnderTest: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () async throws -> any StorageDriver

    var testDescription: String { name }

    static let all: [DriverUnderTest] = [filesystem]

    static let filesystem = DriverUnderTest(name: "filesystem") {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-fs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return FilesystemDriver(root: root)
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
