internal import NIOCore
internal import NIOHTTP1

/// Sends the `ImmediateResponder`'s answers, right after the request decoder and below the
/// response encoder: an answered request never reaches the pipelining handler, the guard or the
/// connection's task, and its response goes to the socket as one buffer, encoded here. Those
/// handlers' work, per request and per response part, was most of what a small response cost.
/// Every other request passes through untouched.
///
/// Requests stay in order: a request is answered here only when every request passed up before
/// it has had its response (`ConnectionLedger`); otherwise it is passed up too.
final class ImmediateResponseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    private let responder: any ImmediateResponder
    private let configuration: HTTPServerConfiguration
    private let ledger: ConnectionLedger
    private let remote: String

    /// The answer to the request being read, sent when its end arrives (a GET's end comes in
    /// the same read as its head).
    private var answer: Answer?

    private struct Answer {
        let request: HTTPRequestHead
        let response: ImmediateResponse
        let started: ContinuousClock.Instant
        let received: Double
    }

    init(
        responder: any ImmediateResponder, configuration: HTTPServerConfiguration, ledger: ConnectionLedger,
        remote: String
    ) {
        self.responder = responder
        self.configuration = configuration
        self.ledger = ledger
        self.remote = remote
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if let pending = answer {
            // Only requests without a body are answered here, so nothing but the end comes.
            if case .end = part {
                answer = nil
                send(pending, context: context)
            }
            return
        }
        if case .head(let head) = part {
            if ledger.isSettled, let response = immediateResponse(to: head) {
                answer = Answer(
                    request: head, response: response, started: .now, received: AccessRecord.wallClockNow())
                return
            }
            ledger.passedUp += 1
        }
        context.fireChannelRead(data)
    }

    private func immediateResponse(to head: HTTPRequestHead) -> ImmediateResponse? {
        guard head.method == .GET || head.method == .HEAD,
            head.uri.utf8.count <= configuration.maxURLBytes,
            !head.headers.contains(name: "transfer-encoding"),
            head.headers.first(name: "content-length").map({ $0 == "0" }) ?? true
        else { return nil }
        return responder.respondImmediately(to: head)
    }

    private func send(_ answer: Answer, context: ChannelHandlerContext) {
        let request = answer.request
        let isHEAD = request.method == .HEAD
        let bytes: ByteBuffer
        let keepAlive: Bool
        if request.version == .http1_1 && request.isKeepAlive {
            bytes = answer.response.keptAliveBytes(forHEAD: isHEAD, extraHeaders: configuration.extraHeaders)
            keepAlive = true
        } else {
            let head: HTTPResponseHead
            (head, keepAlive) = answer.response.response.head(
                for: request, keepAlive: request.isKeepAlive, extraHeaders: configuration.extraHeaders)
            var buffer = context.channel.allocator.buffer(capacity: 512)
            ImmediateResponse.encode(head, into: &buffer)
            if !isHEAD, case .bytes(var body) = answer.response.response.body { buffer.writeBuffer(&body) }
            bytes = buffer
        }
        // Logged before it is written: a close after the write may let the client see the end
        // before this thread gets back here.
        if let accessLog = configuration.accessLog {
            accessLog(
                AccessRecord(
                    requestID: HTTPRequest.newID(), remote: remote, method: request.method.rawValue, uri: request.uri,
                    version: "HTTP/\(request.version.major).\(request.version.minor)",
                    status: answer.response.response.status.code, bytesIn: 0,
                    bytesOut: isHEAD ? 0 : Int64(answer.response.bodyLength),
                    durationMilliseconds: (ContinuousClock.now - answer.started).milliseconds,
                    referer: request.headers.first(name: "referer") ?? "",
                    userAgent: request.headers.first(name: "user-agent") ?? "", received: answer.received))
        }
        ledger.lastAnsweredBelow = .now()
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        } else {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(bytes)).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension ImmediateResponseHandler: Sendable {}
