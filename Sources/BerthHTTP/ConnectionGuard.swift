internal import NIOCore
internal import NIOHTTP1

/// Protocol-level care of one connection, in the pipeline after the HTTP codec and the
/// pipelining handler, for the requests that are passed up to the connection's task:
///
/// - a request the codec cannot parse is answered (431 for too-large headers, 400 otherwise)
///   when no response is under way, then the connection is closed;
/// - idle timeouts apply by phase: while reading a request body, a client that sends nothing
///   for the read timeout is dropped; while a response is being sent, a client that takes
///   nothing for the write timeout is dropped. A slow handler is not, nor is a body sent from
///   outside the pipeline (`BodySentOutsidePipeline`): its sender keeps its own write timeout;
/// - a request head must arrive whole within the head timeout of the connection opening or of
///   the previous response, so neither a silent client nor one trickling header bytes can hold
///   a connection. (The read timeout does not apply here: it counts from the last byte read,
///   which after a long download was long ago, and would drop a client the moment its
///   response ended.) Requests answered below the encoder count as responses here too
///   (`ConnectionLedger`).
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let errorBody: @Sendable (Int, String) -> (contentType: String, body: String)
    private let extraHeaders: [(String, String)]
    private let headTimeout: TimeAmount
    private let writeTimeout: TimeAmount
    /// Shared with the handler that answers requests below the encoder.
    private let ledger: ConnectionLedger
    /// When the connection opened or the last response ended: the next head is due
    /// `headTimeout` later.
    private var idleSince = NIODeadline.now()
    /// When the open response last made progress: its head, or a body part taken by the socket.
    private var lastWrite = NIODeadline.now()
    /// The one timer that checks `deadline`: when it fires it closes the connection or waits
    /// for the next deadline. Requests and responses only move the times, not the timer:
    /// scheduling and cancelling a timer per request cost a few percent of a small response, a
    /// clock read costs nothing. (Every deadline is an event's time plus a timeout, so one set
    /// later is never earlier than the one the timer waits for.)
    private var check: Scheduled<Void>?
    /// A request head arrived and its response has not ended.
    private var exchangeOpen = false
    /// The open exchange's request has been read to its end: now the server is responding.
    private var requestEnded = false
    /// A response head was written and its end was not.
    private var responseOpen = false
    /// The socket the open response's body is being written to by another thread, unseen by
    /// the pipeline; shut down if the channel closes, so that the other thread stops too.
    private var bodySender: DuplicatedSocket?
    /// An error response has been sent and output closed; input is read and discarded until
    /// the client closes or the linger time ends, so that our close does not reset the
    /// connection before the client has read the response.
    private var lingering = false
    static let lingerTime = TimeAmount.seconds(2)

    init(
        errorBody: @escaping @Sendable (Int, String) -> (contentType: String, body: String),
        extraHeaders: [(String, String)], headTimeout: TimeAmount, writeTimeout: TimeAmount,
        ledger: ConnectionLedger
    ) {
        self.ledger = ledger
        self.errorBody = errorBody
        self.extraHeaders = extraHeaders
        self.headTimeout = headTimeout
        self.writeTimeout = writeTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        idleSince = .now()
        ensureCheck(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    /// What the client must have done by when, in the connection's phase; nil while nothing is
    /// awaited of it (a slow handler is not the client's fault, and a request body being read
    /// is watched by the read timeout).
    private var deadline: NIODeadline? {
        if !exchangeOpen { return max(idleSince, ledger.lastAnsweredBelow) + headTimeout }
        if requestEnded && responseOpen && bodySender == nil { return lastWrite + writeTimeout }
        return nil
    }

    private func ensureCheck(_ context: ChannelHandlerContext) {
        if check == nil, let deadline { scheduleCheck(context, at: deadline) }
    }

    private func scheduleCheck(_ context: ChannelHandlerContext, at due: NIODeadline) {
        check = context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in
            check = nil
            guard let deadline else { return }
            if deadline <= .now() {
                context.close(promise: nil)
            } else {
                scheduleCheck(context, at: deadline)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if lingering { return }
        switch unwrapInboundIn(data) {
        case .head:
            exchangeOpen = true
            requestEnded = false
        case .body:
            break
        case .end:
            requestEnded = true
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code < 200:
            break
        case .head:
            responseOpen = true
            lastWrite = .now()
            ensureCheck(context)
        case .body:
            // Progress is a body part written out: the promise completes when the socket took it.
            let written = promise ?? context.eventLoop.makePromise()
            written.futureResult.assumeIsolated().whenSuccess { [self] in lastWrite = .now() }
            context.write(data, promise: written)
            return
        case .end:
            responseOpen = false
            exchangeOpen = false
            ledger.answeredAbove += 1
            idleSince = .now()
            ensureCheck(context)
        }
        context.write(data, promise: promise)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let event = event as? BodySentOutsidePipeline else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        switch event {
        case .started(let socket): bodySender = socket
        case .finished:
            bodySender = nil
            lastWrite = .now()
        }
        promise?.succeed()
    }

    func channelInactive(context: ChannelHandlerContext) {
        bodySender?.shutDown()
        bodySender = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let idle = event as? IdleStateHandler.IdleStateEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // The read timeout applies only while a request body is being read.
        if case .read = idle, exchangeOpen && !requestEnded {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if lingering { return }
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if !responseOpen {
            let (status, message): (HTTPResponseStatus, String) =
                switch parserError {
                case .headerOverflow: (.requestHeaderFieldsTooLarge, "request headers are too large")
                default: (.badRequest, "malformed HTTP request: \(parserError)")
                }
            let (contentType, text) = errorBody(Int(status.code), message)
            var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
            buffer.writeString(text)
            var headers = HTTPHeaders(extraHeaders)
            headers.replaceOrAdd(name: "Content-Type", value: contentType)
            headers.replaceOrAdd(name: "Content-Length", value: String(buffer.readableBytes))
            headers.replaceOrAdd(name: "Connection", value: "close")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            lingering = true
            context.close(mode: .output, promise: nil)
            let channel = context.channel
            context.eventLoop.scheduleTask(in: Self.lingerTime) { channel.close(promise: nil) }
            return
        }
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ConnectionGuard: Sendable {}

/// Sent down the pipeline around a response body written to the socket by another thread
/// (`ThreadedFileSender`), so that the guard does not take the pipeline's silence for a stall.
enum BodySentOutsidePipeline: Sendable {
    case started(DuplicatedSocket)
    case finished
}
