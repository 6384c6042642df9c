internal import NIOConcurrencyHelpers
internal import NIOCore
internal import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// A duplicate of a connection's socket descriptor, for a thread outside the event loop.
///
/// The event loop may close its own descriptor at any time (the client went away); the duplicate
/// keeps the number from being reused under a send in flight. `shutDown()` (on channel close)
/// ends such a send at once, and never touches a descriptor already closed here.
final class DuplicatedSocket: Sendable {
    private let descriptor: NIOLockedValueBox<CInt?>

    /// Must be called on the channel's event loop.
    init(of channel: any Channel) throws {
        let duplicate = try channel.pipeline.syncOperations.withUnsafeTransportIfAvailable(
            of: NIOBSDSocket.Handle.self
        ) { handle in
            let copy = dup(handle)
            guard copy >= 0 else { throw IOError(errnoCode: errno, reason: "dup") }
            return copy
        }
        guard let duplicate else { throw ChannelError.operationUnsupported }
        descriptor = NIOLockedValueBox(duplicate)
    }

    /// Runs `body` with the descriptor; throws if it was shut down or closed already.
    func withDescriptor<T>(_ body: (CInt) throws -> T) throws -> T {
        guard let fd = descriptor.withLockedValue({ $0 }) else { throw ChannelError.ioOnClosedChannel }
        return try body(fd)
    }

    /// Stops any send on the socket (the peer sees the connection end).
    func shutDown() {
        descriptor.withLockedValue { fd in
            if let fd { _ = Glibc.shutdown(fd, CInt(SHUT_RDWR)) }
        }
    }

    func close() {
        descriptor.withLockedValue { fd in
            if let open = fd { _ = Glibc.close(open) }
            fd = nil
        }
    }
}
