import BerthStorage
import Foundation
import NIOCore
import Testing

@testable import BerthAPI

/// A ranged read from a driver that streams (no local file) is cut to the range's length.
@Suite struct LimitedChunksTests {
    @Test func cutsAStreamToTheRange() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-lc-\(UUID().uuidString)").path
        let driver = FilesystemDriver(root: root)
        let bytes = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        try await driver.putContent("/blob", bytes)
        defer { try? FileManager.default.removeItem(atPath: root) }

        for (offset, length) in [(0, 10), (5, (1 << 20) + 7), (1_000_000, (2 << 20)), (0, 3 << 20)] {
            let limited = LimitedChunks(try await driver.reader("/blob", offset: Int64(offset)), limit: Int64(length))
            var got: [UInt8] = []
            while let chunk = try await limited.next() { got += chunk.readableBytesView }
            #expect(got == Array(bytes[offset..<offset + length]))
        }
    }
}
