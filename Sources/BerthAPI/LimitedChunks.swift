internal import BerthStorage
internal import NIOCore

/// Passes on at most `limit` bytes of a chunk stream (a ranged read of a driver that reads
/// from an offset to the end).
final class LimitedChunks: @unchecked Sendable {
    // Only used by the one task writing the response.
    private var iterator: ByteChunks.AsyncIterator
    private var remaining: Int64

    init(_ chunks: ByteChunks, limit: Int64) {
        self.iterator = chunks.makeAsyncIterator()
        self.remaining = limit
    }

    /// The next buffers the stream hands over together, cut at the limit.
    func nextBatch() async throws -> [ByteBuffer]? {
        guard remaining > 0, let batch = try await iterator.nextBatch() else { return nil }
        var passed: [ByteBuffer] = []
        for var chunk in batch where remaining > 0 {
            if Int64(chunk.readableBytes) > remaining {
                chunk = chunk.getSlice(at: chunk.readerIndex, length: Int(remaining))!
            }
            remaining -= Int64(chunk.readableBytes)
            passed.append(chunk)
        }
        return passed
    }
}
