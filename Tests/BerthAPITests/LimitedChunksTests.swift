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
            while let batch = try await limited.nextBatch() {
                for chunk in batch { got += chunk.readableBytesView }
            }
            #expect(got == Array(bytes[offset..<offset + length]))
        }
    }

    /// Buffers a driver hands over together pass on together, the last one cut at the limit
    /// and those past it dropped.
    @Test func cutsABatchAtTheLimit() async throws {
        let parts = (0..<4).map { ByteBuffer(repeating: UInt8($0), count: 100) }
        let served = BatchCounter()
        let chunks = ByteChunks(batches: { served.take() ? parts : nil })
        let limited = LimitedChunks(chunks, limit: 250)
        let batch = try #require(try await limited.nextBatch())
        #expect(batch.map(\.readableBytes) == [100, 100, 50])
        #expect(batch[2].readableBytesView.allSatisfy { $0 == 2 })
        #expect(try await limited.nextBatch() == nil)
    }
}

/// Hands out one batch, then the end.
private final class BatchCounter: @unchecked Sendable {
    private var given = false
    func take() -> Bool {
        defer { given = true }
        return !given
    }
}
