import BerthHTTP
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Testing

/// An echo responder: the request body comes back as a chunked response (no length known), one
/// chunk per received buffer, so bodies stream both ways through the server.
struct EchoResponder: HTTPResponder {
    func respond(to request: HTTPRequest) async -> HTTPResponse {
        switch request.uri {
        case "/echo":
            var bytes: [UInt8] = []
            do {
                for try await buffer in request.body { bytes += buffer.readableBytesView }
            } catch {
                return HTTPResponse(status: .badRequest)
            }
            let chunks = stride(from: 0, to: bytes.count, by: 1000).map {
                ByteBuffer(bytes: bytes[$0..<min($0 + 1000, bytes.count)])
            }
            let iterator = ChunkIterator(chunks)
            return HTTPResponse(status: .ok, body: .stream(length: nil, next: { iterator.next().map { [$0] } }))
        case "/file":
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("berth-http-test-file").path
            try? Data("0123456789".utf8).write(to: URL(fileURLWithPath: path))
            return HTTPResponse(status: .ok, body: .file(path: path, offset: 2, length: 5))
        default:
            return HTTPResponse(status: .ok, headers: ["Content-Length": "42"])
        }
    }
}

final class ChunkIterator: @unchecked Sendable {
    private var chunks: [ByteBuffer]
    private let lock = NSLock()
    init(_ chunks: [ByteBuffer]) { self.chunks = chunks.reversed() }
    func next() -> ByteBuffer? { lock.withLock { chunks.popLast() } }
}

@Suite(.serialized) struct HTTPServerTests {
    /// Runs the server on an ephemeral port for the duration of `body`.
    func withServer(_ body: (Int) async throws -> Void) async throws {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), responder: EchoResponder(),
            logger: Logger(label: "test")
        ) { address in continuation.yield(address.port ?? 0) }
        let task = Task { try await server.run() }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        defer { task.cancel() }
        try await body(port)
    }

    /// Runs curl on a Dispatch thread: a blocking wait on the cooperative pool (two threads on
    /// these machines) would starve the server under test.
    func curl(_ arguments: [String], input: Data? = nil) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try self.curlBlocking(arguments, input: input) })
            }
        }
    }

    func curlBlocking(_ arguments: [String], input: Data?) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-S"] + arguments
        let output = Pipe()
        let stdin = Pipe()
        process.standardOutput = output
        process.standardInput = stdin
        try process.run()
        let writer = stdin.fileHandleForWriting
        DispatchQueue.global().async {
            if let input { writer.write(input) }
            try? writer.close()
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test func chunkedBodiesStreamBothWays() async throws {
        try await withServer { port in
            let payload = String(repeating: "berth-", count: 10_000)
            // A chunked request (stdin of unknown length), answered with a chunked response.
            let out = try await curl(
                ["-i", "-H", "Transfer-Encoding: chunked", "--data-binary", "@-", "http://127.0.0.1:\(port)/echo"],
                input: Data(payload.utf8))
            #expect(out.lowercased().contains("transfer-encoding: chunked"))
            let body = out.components(separatedBy: "\r\n\r\n").last ?? ""
            #expect(body.count == payload.count && body == payload, "echoed \(body.count) of \(payload.count) bytes")
        }
    }

    @Test func expectContinue() async throws {
        try await withServer { port in
            let out = try await curl(
                [
                    "-H", "Expect: 100-continue", "--data-binary", "@-", "http://127.0.0.1:\(port)/echo",
                ], input: Data(repeating: 0x61, count: 2_000_000))
            #expect(out.count == 2_000_000 && out.allSatisfy { $0 == "a" }, "echoed \(out.count) bytes")
        }
    }

    @Test func headAndFileRanges() async throws {
        try await withServer { port in
            let head = try await curl(["-I", "http://127.0.0.1:\(port)/other", "http://127.0.0.1:\(port)/other"])
            #expect(head.components(separatedBy: "Content-Length: 42").count == 3)  // two on one connection
            #expect(try await curl(["http://127.0.0.1:\(port)/file"]) == "23456")
        }
    }
}
