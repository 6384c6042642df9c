import BerthHTTP
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Answers `/fast` at once with "fast"; nothing else.
struct FastPath: ImmediateResponder {
    let fast = ImmediateResponse(status: .ok, headers: ["Content-Type": "text/plain"], body: ByteBuffer(string: "fast"))

    func respondImmediately(to head: HTTPRequestHead) -> ImmediateResponse? {
        head.uri == "/fast" ? fast : nil
    }
}

/// Counts what reaches it; `/slow` answers "slow" after a while, `/unknown-length` streams
/// "stream" without a length, `/fast` is "fast" as the immediate answer has it, everything else
/// is "task".
final class CountingResponder: HTTPResponder {
    let served = Mutex<[String]>([])

    func respond(to request: HTTPRequest) async -> HTTPResponse {
        served.withLock { $0.append(request.uri) }
        switch request.uri {
        case "/slow":
            try? await Task.sleep(for: .milliseconds(300))
            return HTTPResponse(status: .ok, body: .bytes(ByteBuffer(string: "slow")))
        case "/fast":
            return HTTPResponse(status: .ok, body: .bytes(ByteBuffer(string: "fast")))
        case "/unknown-length":
            let chunks = ChunkIterator([ByteBuffer(string: "str"), ByteBuffer(string: "eam")])
            return HTTPResponse(status: .ok, body: .stream(length: nil, next: { chunks.next().map { [$0] } }))
        default:
            return HTTPResponse(status: .ok, body: .bytes(ByteBuffer(string: "task")))
        }
    }
}

/// Requests answered on the event loop, below the encoder: they must look, order and log
/// exactly like the ones the connection's task answers.
@Suite(.serialized) struct ImmediateAnswerTests {
    func withServer(
        accessLog: (@Sendable (AccessRecord) -> Void)? = nil, _ body: (Int, CountingResponder) async throws -> Void
    ) async throws {
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.immediateResponder = FastPath()
        configuration.extraHeaders = [("X-Extra", "yes")]
        configuration.accessLog = accessLog
        let responder = CountingResponder()
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = HTTPServer(configuration: configuration, responder: responder, logger: Logger(label: "test")) {
            continuation.yield($0.port ?? 0)
        }
        let task = Task { try await server.run() }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        defer { task.cancel() }
        try await body(port, responder)
    }

    /// Sends `request` on one connection and reads until the server closes it or `until` is
    /// in what came back (on a Dispatch thread: blocking the cooperative pool would starve the
    /// server).
    func exchange(_ port: Int, _ request: String, until: String? = nil) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try Self.exchangeBlocking(port, request, until: until) })
            }
        }
    }

    struct SocketError: Error { let call: String }

    static func exchangeBlocking(_ port: Int, _ request: String, until: String?) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(call: "socket") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw SocketError(call: "connect") }
        let bytes = Array(request.utf8)
        guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw SocketError(call: "send") }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let until, String(decoding: received, as: UTF8.self).contains(until) { break }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { break }
            guard n > 0 else { throw SocketError(call: "recv: closed or timed out after \(received.count) bytes") }
            received += buffer[0..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }

    @Test func anImmediateAnswerIsTheResponseAndTheTaskNeverSeesIt() async throws {
        try await withServer { port, responder in
            let out = try await exchange(port, "GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n"))
            let head = out.components(separatedBy: "\r\n\r\n")[0].lowercased()
            #expect(head.contains("content-type: text/plain") && head.contains("content-length: 4"))
            #expect(head.contains("x-extra: yes") && head.contains("connection: close"))
            #expect(out.hasSuffix("\r\n\r\nfast"))
            #expect(responder.served.withLock { $0 }.isEmpty)
        }
    }

    /// Pipelined requests: one that could be answered at once but comes behind one still being
    /// answered by the task goes to the task too, so that its response cannot overtake.
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withServer { port, responder in
            let get = { (path: String) in "GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n" }
            let out = try await exchange(
                port,
                get("/fast") + get("/slow") + get("/fast") + get("/other") + get("/fast")
                    + "GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let bodies = out.components(separatedBy: "HTTP/1.1 200 OK").dropFirst().map {
                $0.components(separatedBy: "\r\n\r\n").last ?? ""
            }
            #expect(bodies == ["fast", "slow", "fast", "task", "fast", "fast"])
            #expect(responder.served.withLock { $0 } == ["/slow", "/fast", "/other", "/fast", "/fast"])
        }
    }

    @Test func headAndHTTP10AreAnsweredAsTheTaskAnswersThem() async throws {
        try await withServer { port, _ in
            // HEAD: the length of the GET, no body; the connection stays open for the next one.
            let head = try await exchange(
                port,
                "HEAD /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(head.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
            #expect(head.lowercased().contains("content-length: 4\r\n"))
            #expect(!head.contains("fast") && head.hasSuffix("task"))
            // HTTP/1.0: closed after the response unless kept alive, and told so when it is.
            let old = try await exchange(port, "GET /fast HTTP/1.0\r\n\r\n")
            #expect(old.hasPrefix("HTTP/1.0 200 OK\r\n") && old.hasSuffix("fast"))
            let kept = try await exchange(port, "GET /fast HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", until: "fast")
            #expect(kept.lowercased().contains("connection: keep-alive"))
        }
    }

    /// A body of unknown length is chunked for HTTP/1.1, sent until the connection closes for
    /// HTTP/1.0 (which knows no chunks), and left out of a HEAD without any framing header.
    @Test func bodiesOfUnknownLengthAreFramedForTheClient() async throws {
        try await withServer { port, _ in
            let chunked = try await exchange(
                port, "GET /unknown-length HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(chunked.lowercased().contains("transfer-encoding: chunked"))
            #expect(chunked.hasSuffix("3\r\nstr\r\n3\r\neam\r\n0\r\n\r\n"))
            let old = try await exchange(port, "GET /unknown-length HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(!old.lowercased().contains("transfer-encoding") && old.lowercased().contains("connection: close"))
            #expect(old.hasSuffix("\r\n\r\nstream"))
            let head = try await exchange(
                port, "HEAD /unknown-length HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(!head.lowercased().contains("transfer-encoding") && head.hasSuffix("\r\n\r\n"))
        }
    }

    @Test func immediateAnswersAreInTheAccessLog() async throws {
        final class Records: Sendable { let list = Mutex<[AccessRecord]>([]) }
        let records = Records()
        try await withServer(accessLog: { record in records.list.withLock { $0.append(record) } }) { port, _ in
            _ = try await exchange(
                port, "GET /fast HTTP/1.1\r\nHost: x\r\nUser-Agent: tester\r\nConnection: close\r\n\r\n")
        }
        let record = try #require(records.list.withLock { $0 }.first)
        #expect(record.method == "GET" && record.uri == "/fast" && record.status == 200)
        #expect(record.bytesOut == 4 && record.userAgent == "tester" && !record.requestID.isEmpty)
    }
}
