internal import NIOCore
internal import NIOPosix
internal import NIOSSL

/// Turns the bytes of a connection into RESP replies.
final class RESPDecoder: ByteToMessageDecoder {
    typealias InboundOut = RESPValue

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let value = try RESPValue.parse(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(value))
        return .continue
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}

/// Pipelining: commands are written as they come, and Redis answers them in order, so each
/// reply completes the oldest waiting promise. A connection that breaks fails every waiting one.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = (ByteBuffer, EventLoopPromise<RESPValue>)
    typealias OutboundOut = ByteBuffer

    private var waiting = CircularBuffer<EventLoopPromise<RESPValue>>()
    /// Once the connection is gone, a command written to it is failed here: no reply will come.
    private var closed = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let (bytes, reply) = unwrapOutboundIn(data)
        guard !closed else {
            reply.fail(RedisError.connectionClosed)
            promise?.fail(RedisError.connectionClosed)
            return
        }
        waiting.append(reply)
        context.write(wrapOutboundOut(bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        guard let reply = waiting.popFirst() else {
            // A reply nobody asked for: the stream is out of step; start over.
            context.close(promise: nil)
            return
        }
        reply.succeed(value)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closed = true
        failAll(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        failAll(RedisError.connectionClosed)
        context.fireChannelInactive()
    }

    private func failAll(_ error: any Error) {
        while let reply = waiting.popFirst() { reply.fail(error) }
    }
}

public enum RedisError: Error, Sendable, CustomStringConvertible, Equatable {
    case connectionClosed
    case timedOut
    case server(String)
    case unavailable(String)

    public var description: String {
        switch self {
        case .connectionClosed: "the connection to Redis closed"
        case .timedOut: "Redis did not answer in time"
        case .server(let message): "Redis answered: \(message)"
        case .unavailable(let reason): "Redis is unavailable: \(reason)"
        }
    }
}

/// One connection to Redis, carrying any number of commands at once.
final class RedisConnection: Sendable {
    let channel: any Channel
    private let readTimeout: TimeAmount?

    private init(channel: any Channel, readTimeout: TimeAmount?) {
        self.channel = channel
        self.readTimeout = readTimeout
    }

    var isActive: Bool { channel.isActive }

    static func connect(_ configuration: RedisClient.Configuration) async throws -> RedisConnection {
        let tls: NIOSSLContext? =
            configuration.tls ? try NIOSSLContext(configuration: TLSConfiguration.makeClientConfiguration()) : nil
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        if let timeout = configuration.dialTimeout { bootstrap = bootstrap.connectTimeout(timeout) }
        let host = configuration.host
        let channel = try await bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls {
                    try channel.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: tls, serverHostname: host))
                }
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
                try channel.pipeline.syncOperations.addHandler(RedisCommandHandler())
            }
        }.connect(host: configuration.host, port: configuration.port).get()
        let connection = RedisConnection(channel: channel, readTimeout: configuration.readTimeout)
        do {
            if let password = configuration.password {
                let auth = configuration.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                _ = try await connection.send(auth).throwingOnError()
            }
            if configuration.db != 0 {
                _ = try await connection.send(["SELECT", String(configuration.db)]).throwingOnError()
            }
        } catch {
            try? await channel.close()
            throw error
        }
        return connection
    }

    /// Sends one command and waits for its reply.
    func send(_ arguments: [String]) async throws -> RESPValue {
        try await send([arguments])[0]
    }

    /// Sends commands in order, in one write, and waits for their replies. Replies that take
    /// longer than the read timeout fail every command waiting on the connection, and close it.
    func send(_ commands: [[String]]) async throws -> [RESPValue] {
        var promises: [EventLoopPromise<RESPValue>] = []
        let channel = self.channel
        for arguments in commands {
            var bytes = channel.allocator.buffer(capacity: 64)
            RESPValue.encode(arguments, into: &bytes)
            let reply = channel.eventLoop.makePromise(of: RESPValue.self)
            promises.append(reply)
            // A write that never reaches the handler (the channel already torn down) fails
            // its reply here; completing a promise twice is a no-op in NIO.
            let written = channel.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenFailure { reply.fail($0) }
            channel.write((bytes, reply), promise: written)
        }
        channel.flush()
        var timer: Scheduled<Void>?
        if let readTimeout {
            timer = channel.eventLoop.scheduleTask(in: readTimeout) {
                channel.pipeline.fireErrorCaught(RedisError.timedOut)
            }
        }
        defer { timer?.cancel() }
        var replies: [RESPValue] = []
        replies.reserveCapacity(promises.count)
        for promise in promises { replies.append(try await promise.futureResult.get()) }
        return replies
    }

    func close() async {
        try? await channel.close()
    }
}

extension RESPValue {
    /// The value, or the error Redis answered with, thrown.
    func throwingOnError() throws -> RESPValue {
        if case .error(let message) = self { throw RedisError.server(message) }
        return self
    }
}
