internal import Logging
internal import NIOConcurrencyHelpers
internal import NIOCore
internal import NIOHTTP1
internal import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// Serves the requests of one connection in order: read a head, hand the request to the
/// responder, write the response, make sure the request body is consumed, repeat while the
/// connection is kept alive.
struct HTTPConnection {
    let responder: any HTTPResponder
    let configuration: HTTPServerConfiguration
    let logger: Logger

    /// Largest unread request body we still read and discard to keep a connection alive.
    static let maxDrainBytes: Int64 = 1 << 20

    /// Where the connection is, for graceful shutdown: an idle one is closed at once, a busy one
    /// after its current response.
    private enum Phase {
        case idle, busy, closing
    }

    func run(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, isTLS: Bool) async {
        let channel = connection.channel
        let remote = Self.remote(of: channel)
        let phase = NIOLockedValueBox(Phase.idle)
        do {
            try await connection.executeThenClose { inbound, _ in
                try await withGracefulShutdownHandler {
                    var iterator = inbound.makeAsyncIterator()
                    while let part = try await iterator.next() {
                        guard case .head(let head) = part else { continue }
                        let proceed = phase.withLockedValue { p in
                            if p == .closing { return false }
                            p = .busy
                            return true
                        }
                        guard proceed else { break }
                        let keepAlive = try await serve(
                            head, iterator: &iterator, channel: channel, isTLS: isTLS, remote: remote)
                        let closing = phase.withLockedValue { p in
                            if p == .closing { return true }
                            p = .idle
                            return false
                        }
                        if !keepAlive || closing { break }
                    }
                } onGracefulShutdown: {
                    let idle = phase.withLockedValue { p in
                        defer { p = .closing }
                        return p == .idle
                    }
                    if idle { channel.close(promise: nil) }
                }
            }
        } catch {
            logger.debug("connection ended", metadata: ["remote": "\(remote)", "error": "\(error)"])
        }
    }

    /// The client's address as logs show it.
    static func remote(of channel: any Channel) -> String {
        channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "-"
    }

    /// Serves one request; returns whether the connection may carry another.
    private func serve(
        _ head: HTTPRequestHead,
        iterator: inout NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator,
        channel: any Channel, isTLS: Bool, remote: String
    ) async throws -> Bool {
        let started = ContinuousClock.now
        let receivedAt = AccessRecord.wallClockNow()
        let expectsContinue = head.headers["expect"].contains { $0.lowercased() == "100-continue" }
        let sendContinue: (() async throws -> Void)? =
            expectsContinue
            ? {
                let interim = HTTPResponseHead(version: head.version, status: .continue)
                try await channel.writeAndFlush(HTTPServerResponsePart.head(interim)).get()
            } : nil
        let body = RequestBody(iterator: iterator, sendContinue: sendContinue)
        let request = HTTPRequest(
            head: head, body: body, remoteAddress: remote, isTLS: isTLS,
            id: HTTPRequest.newID())

        var response: HTTPResponse
        if head.uri.utf8.count > configuration.maxURLBytes {
            let (type, text) = configuration.errorBody(
                414, "request URL is longer than \(configuration.maxURLBytes) bytes")
            response = HTTPResponse(
                status: .uriTooLong, headers: ["Content-Type": type], body: .bytes(ByteBuffer(string: text)))
        } else {
            response = await responder.respond(to: request)
        }

        // A client still waiting for 100 Continue may or may not send its body now; a body
        // larger than we care to discard is not worth reading. Either way: close after this one.
        var keepAlive = head.isKeepAlive
        if !body.isFinished,
            body.continuePending || (body.contentLengthRemaining(head) ?? Int64.max) > Self.maxDrainBytes
        {
            keepAlive = false
        }
        let responseHead: HTTPResponseHead
        (responseHead, keepAlive) = response.head(
            for: head, keepAlive: keepAlive, extraHeaders: configuration.extraHeaders)
        let writer = ResponseWriter(
            channel: channel, isTLS: isTLS, isHEAD: head.method == .HEAD, idleTimeout: configuration.idleTimeout)
        // Every request is recorded, a response the client hung up on too (as registry:2 logs
        // it). Many clients close as soon as the last byte arrives, which can fail the write
        // of the response's end: then the whole body is counted as sent.
        func record(sent: Int64) {
            guard let accessLog = configuration.accessLog else { return }
            accessLog(
                AccessRecord(
                    requestID: request.id, remote: remote, method: head.method.rawValue, uri: head.uri,
                    version: "HTTP/\(head.version.major).\(head.version.minor)", status: response.status.code,
                    bytesIn: body.bytesRead, bytesOut: sent,
                    durationMilliseconds: (ContinuousClock.now - started).milliseconds,
                    referer: head.headers.first(name: "referer") ?? "",
                    userAgent: head.headers.first(name: "user-agent") ?? "", received: receivedAt))
        }
        let sent: Int64
        do {
            // Cancelled (the shutdown's drain time is over): close the connection, which ends a
            // download in flight whichever way its body is being sent.
            sent = try await withTaskCancellationHandler {
                try await writer.write(head: responseHead, body: response.body)
            } onCancel: {
                channel.close(promise: nil)
            }
        } catch {
            // Clients hang up as soon as they have what they wanted; only other failures are news.
            let clientGone =
                error is ChannelError || (error as? IOError).map { [EPIPE, ECONNRESET].contains($0.errnoCode) } == true
            logger.log(
                level: clientGone ? .debug : .warning, "response failed",
                metadata: ["request_id": "\(request.id)", "path": "\(head.uri)", "error": "\(error)"])
            record(sent: head.method == .HEAD ? 0 : response.impliedLength ?? 0)
            throw error
        }

        if keepAlive && !body.isFinished {
            keepAlive = try await drain(body)
        }
        iterator = body.iterator

        record(sent: sent)
        return keepAlive
    }

    /// Reads and discards what the responder left of the body; false if it was too much.
    private func drain(_ body: RequestBody) async throws -> Bool {
        var discarded: Int64 = 0
        while let chunk = try await body.nextBuffer() {
            discarded += Int64(chunk.readableBytes)
            if discarded > Self.maxDrainBytes { return false }
        }
        return true
    }
}

extension RequestBody {
    /// How much of the body is still unread: nil for a chunked body (unknown), 0 for a request
    /// without one.
    func contentLengthRemaining(_ head: HTTPRequestHead) -> Int64? {
        if let text = head.headers.first(name: "content-length"), let total = Int64(text) {
            return total - bytesRead
        }
        return head.headers.contains(name: "transfer-encoding") ? nil : 0
    }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
