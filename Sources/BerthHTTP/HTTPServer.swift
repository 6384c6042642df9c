public import Logging
public import NIOCore
internal import NIOHTTP1
internal import NIOPosix
internal import NIOSSL
public import ServiceLifecycle

/// The HTTP/1.1 server: binds, accepts, and runs every connection as a child task. Runs as a
/// `Service`: on graceful shutdown it stops accepting, closes idle connections and lets busy
/// ones finish their current response.
public struct HTTPServer: Service {
    let configuration: HTTPServerConfiguration
    let responder: any HTTPResponder
    let logger: Logger
    let onListening: @Sendable (SocketAddress) -> Void

    public init(
        configuration: HTTPServerConfiguration, responder: any HTTPResponder, logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let configuration = self.configuration
        let isTLS = configuration.tls != nil
        // Socket reads of up to 1 MiB (small reads cost a hand-off each and halved upload speed).
        // Reading pauses once 4 body parts wait unconsumed; with up to 8 reads per cycle, a fast
        // uploader can make us hold at most ~12 MiB per connection.
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // A TCP option: as a socket option (`.socketOption`) it would be SOL_SOCKET's option
            // 1, SO_DEBUG, which a container without CAP_NET_ADMIN refuses on every accept.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 8)
            .childChannelOption(
                .recvAllocator,
                value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 16 * 1024, maximum: 1024 * 1024)
            )
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configurePipeline(channel, configuration)
                }
            }
        guard let address = server.channel.localAddress else { throw ChannelError.inappropriateOperationForState }
        onListening(address)

        let connection = HTTPConnection(responder: responder, configuration: configuration, logger: logger)
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await child in inbound {
                        group.addTask { await connection.run(child, isTLS: isTLS) }
                    }
                }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
    }

    static func configurePipeline(
        _ channel: any Channel, _ configuration: HTTPServerConfiguration
    ) throws
        -> NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    {
        let pipeline = channel.pipeline.syncOperations
        if let tls = configuration.tls {
            try pipeline.addHandler(NIOSSLServerHandler(context: tls))
        }
        // Only reads are timed here; `ConnectionGuard` times writes and waits between requests.
        try pipeline.addHandler(IdleStateHandler(readTimeout: configuration.idleTimeout))
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = configuration.maxHeaderBytes
        limits.maxHeaderListSize = configuration.maxHeaderBytes
        limits.maxHeaderFieldCount = 1000
        // The HTTP handlers in order, by hand rather than `configureHTTPServerPipeline`, so that
        // immediate answers sit between decoder and encoder. The encoder frames nothing itself
        // (`HTTPResponse.head` does), and outbound headers are not validated again (a tenth of
        // a small response's cost): every value Berth sends is its own, parsed from a request or
        // an upstream response (neither can hold a line break), or configured (`http.headers`,
        // checked at start-up).
        let ledger = ConnectionLedger()
        try pipeline.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: limits)))
        if let responder = configuration.immediateResponder {
            try pipeline.addHandler(
                ImmediateResponseHandler(
                    responder: responder, configuration: configuration, ledger: ledger,
                    remote: HTTPConnection.remote(of: channel)))
        }
        var encoding = HTTPResponseEncoder.Configuration()
        encoding.automaticallySetFramingHeaders = false
        try pipeline.addHandler(HTTPResponseEncoder(configuration: encoding))
        try pipeline.addHandler(HTTPServerPipelineHandler())
        try pipeline.addHandler(
            ConnectionGuard(
                errorBody: configuration.errorBody, extraHeaders: configuration.extraHeaders,
                headTimeout: configuration.idleTimeout, writeTimeout: configuration.idleTimeout, ledger: ledger))
        return try NIOAsyncChannel(
            wrappingChannelSynchronously: channel,
            configuration: .init(backPressureStrategy: .init(lowWatermark: 2, highWatermark: 4)))
    }
}
