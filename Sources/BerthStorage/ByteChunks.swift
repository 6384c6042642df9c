public import NIOCore

/// A stream of byte buffers read on demand: each `next()` produces the next chunk, so a
/// consumer that stops pulling stops the reads (backpressure by construction).
///
/// A producer may hand over several buffers at once (`init(batches:)`: the parts of a network
/// body that arrived together); a consumer that can take them together (`nextBatch`, a response
/// written in one hop to its event loop) saves a hand-off per buffer without their bytes being
/// copied into one.
public struct ByteChunks: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    private let produce: @Sendable () async throws -> [ByteBuffer]?

    public init(_ produce: @escaping @Sendable () async throws -> ByteBuffer?) {
        self.produce = { try await produce().map { [$0] } }
    }

    /// `produce` returns the next non-empty batch of buffers, nil at the end.
    public init(batches produce: @escaping @Sendable () async throws -> [ByteBuffer]?) {
        self.produce = produce
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let produce: @Sendable () async throws -> [ByteBuffer]?
        private var pending: ArraySlice<ByteBuffer> = []

        init(produce: @escaping @Sendable () async throws -> [ByteBuffer]?) { self.produce = produce }

        public mutating func next() async throws -> ByteBuffer? {
            if pending.isEmpty {
                guard let batch = try await produce() else { return nil }
                pending = batch[...]
            }
            return pending.popFirst()
        }

        /// What is left of the current batch, or the next one; nil at the end.
        public mutating func nextBatch() async throws -> [ByteBuffer]? {
            if !pending.isEmpty {
                defer { pending = [] }
                return Array(pending)
            }
            return try await produce()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(produce: produce) }
}
