import Foundation
import Logging
import NIOCore
import OCI
import Testing

@testable import BerthCache

/// The RESP client against a real `redis-server`: pipelining, authentication, databases, an
/// outage and the way back, timeouts.
@Suite(.enabled(if: RedisServer.binary != nil)) struct RedisClientTests {
    func client(
        _ server: RedisServer, _ configure: (inout RedisClient.Configuration) -> Void = { _ in }
    )
        -> RedisClient
    {
        var configuration = RedisClient.Configuration(host: "127.0.0.1", port: server.port)
        configuration.password = server.password
        // Generous, for a loaded machine; the timeout test sets its own.
        configuration.dialTimeout = .seconds(10)
        configuration.readTimeout = .seconds(10)
        configure(&configuration)
        return RedisClient(configuration)
    }

    @Test func commandsAndPipelinedRepliesComeBackInOrder() async throws {
        let server = try RedisServer()
        let redis = client(server)
        #expect(try await redis.command(["SET", "k", "v"]) == "OK")
        #expect(try await redis.command(["GET", "k"]) == "v")
        #expect(try await redis.command(["GET", "missing"]) == nil)
        let replies = try await redis.pipeline((0..<500).map { _ in ["INCR", "counter"] })
        #expect(replies == (1...500).map { String($0) })
        // Many tasks at once over the pool's few connections.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<200 {
                group.addTask {
                    _ = try await redis.command(["SET", "key\(n)", "value \(n)"])
                    #expect(try await redis.command(["GET", "key\(n)"]) == "value \(n)")
                }
            }
            try await group.waitForAll()
        }
        await #expect(throws: RedisError.self) { try await redis.command(["NOSUCHCOMMAND"]) }
        await redis.close()
    }

    @Test func passwordAndDatabaseAreUsed() async throws {
        let server = try RedisServer(password: "s3cret")
        let three = client(server) { $0.db = 3 }
        _ = try await three.command(["SET", "only-in-3", "x"])
        let zero = client(server)
        #expect(try await zero.command(["GET", "only-in-3"]) == nil)
        #expect(try await three.command(["GET", "only-in-3"]) == "x")
        let wrong = client(server) { $0.password = "wrong" }
        await #expect(throws: RedisError.self) { try await wrong.command(["GET", "only-in-3"]) }
    }

    @Test func anOutageFailsFastAndTheClientReconnects() async throws {
        let server = try RedisServer()
        let redis = client(server)
        _ = try await redis.command(["SET", "a", "1"])
        server.stop()
        await #expect(throws: RedisError.self) { try await redis.command(["GET", "a"]) }
        // While it is down, commands fail at once rather than each waiting for a connect.
        let clock = ContinuousClock()
        let elapsed = await clock.measure {
            for _ in 0..<50 { _ = try? await redis.command(["GET", "a"]) }
        }
        #expect(elapsed < .seconds(1))
        #expect(try server.start())
        try await Task.sleep(for: RedisClient.retryAfter + .milliseconds(100))
        #expect(try await redis.command(["SET", "a", "2"]) == "OK")
        #expect(try await redis.command(["GET", "a"]) == "2")
    }

    @Test func aServerThatDoesNotAnswerTimesOut() async throws {
        let server = try RedisServer()
        let redis = client(server) { $0.readTimeout = .milliseconds(200) }
        _ = try await redis.command(["SET", "a", "1"])
        server.pause(true)
        await #expect(throws: RedisError.timedOut) { try await redis.command(["GET", "a"]) }
        server.pause(false)
        try await Task.sleep(for: RedisClient.retryAfter)
        #expect(try await redis.command(["GET", "a"]) == "1")
    }

    @Test func repliesAreParsedWholeOrNotAtAll() throws {
        var buffer = ByteBuffer(string: "*3\r\n$3\r\nfoo\r\n:42\r\n*2\r\n+OK\r\n$-1\r\n-ERR x\r\n")
        #expect(
            try RESPValue.parse(&buffer)
                == .array([
                    .bulkString(Array("foo".utf8)), .integer(42), .array([.simpleString("OK"), .bulkString(nil)]),
                ]))
        #expect(try RESPValue.parse(&buffer) == .error("ERR x"))
        var partial = ByteBuffer(string: "$10\r\nhello")
        #expect(try RESPValue.parse(&partial) == nil)
        #expect(partial.readableBytes == 10)  // untouched until the whole value is there
        var huge = ByteBuffer(string: "$99999999999\r\n")
        #expect(throws: RESPValue.Malformed.self) { try RESPValue.parse(&huge) }
        var odd = ByteBuffer(string: "?what\r\n")
        #expect(throws: RESPValue.Malformed.self) { try RESPValue.parse(&odd) }
    }
}

/// The shared descriptor cache on a real Redis, and what it does when Redis is gone.
@Suite(.enabled(if: RedisServer.binary != nil)) struct RedisDescriptorCacheTests {
    let name = try! RepositoryName("team/app")
    let tag = try! Tag("latest")

    func cache(_ server: RedisServer) -> RedisDescriptorCache {
        var configuration = RedisClient.Configuration(host: "127.0.0.1", port: server.port)
        configuration.dialTimeout = .seconds(10)
        configuration.readTimeout = .seconds(10)
        return RedisDescriptorCache(client: RedisClient(configuration), logger: Logger(label: "test"))
    }

    @Test func entriesAreSharedBetweenReplicasAndForgotten() async throws {
        let server = try RedisServer()
        let (one, two) = (cache(server), cache(server))
        let blob = BlobDescriptor(
            digest: Digest.of([1]), size: 1, mediaType: "application/vnd.oci.image.manifest.v1+json")
        await one.remember(blob)
        #expect(await two.descriptor(of: blob.digest) == blob)
        await one.rememberLink(blob.digest, as: .manifest, in: name)
        #expect(await two.isLinked(blob.digest, as: .manifest, in: name) == true)
        #expect(await two.isLinked(blob.digest, as: .layer, in: name) == nil)
        await two.forgetLink(blob.digest, as: .manifest, in: name)
        #expect(await one.isLinked(blob.digest, as: .manifest, in: name) == nil)
        await two.forgetDescriptor(of: blob.digest)
        #expect(await one.descriptor(of: blob.digest) == nil)
    }

    @Test func aFillNeverReplacesATagJustSet() async throws {
        let server = try RedisServer()
        let (writer, reader) = (cache(server), cache(server))
        let (old, new) = (Digest.of([1]), Digest.of([2]))
        await writer.rememberTag(tag, in: name, as: new, replacing: true)
        // A replica that read the old digest from storage before the tag moved fills late.
        await reader.rememberTag(tag, in: name, as: old, replacing: false)
        #expect(await reader.digest(of: tag, in: name) == new)
        await writer.forgetTag(tag, in: name)
        #expect(await reader.digest(of: tag, in: name) == nil)
    }

    @Test func withRedisGoneEveryAnswerIsAMissAndNothingFails() async throws {
        let server = try RedisServer()
        let shared = cache(server)
        await shared.rememberTag(tag, in: name, as: Digest.of([1]), replacing: true)
        server.stop()
        #expect(await shared.digest(of: tag, in: name) == nil)
        await shared.rememberTag(tag, in: name, as: Digest.of([2]), replacing: true)
        await shared.forgetTag(tag, in: name)
        #expect(await shared.descriptor(of: Digest.of([1])) == nil)
    }
}
