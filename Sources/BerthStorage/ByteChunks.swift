public import NIOCore

/// A stream of byte buffers read on demand: each `next()` produces the next chunk, so a
/// consumer that stops pulling stops the reads (backpressure by construction).
public struct ByteChunks: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    private let produce: @Sendable () async throws -> ByteBuffer?

    public init(_ produce: @escaping @Sendable () async throws -> ByteBuffer?) {
        self.produce = produce
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let produce: @Sendable () async throws -> ByteBuffer?
        public mutating func next() async throws -> ByteBuffer? { try await produce() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(produce: produce) }
}
