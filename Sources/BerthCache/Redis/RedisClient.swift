internal import Foundation
public import NIOCore

/// A small Redis client: a pool of pipelined connections, opened when needed, re-opened when
/// they break, with registry:2's `redis` settings. No Swift Redis package is available here.
public actor RedisClient {
    /// registry:2's `redis:` keys.
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var username: String?
        public var password: String?
        public var db = 0
        /// `dialtimeout`, `readtimeout`; nil: none. A command's write and its reply are bounded
        /// together by the read timeout, so `writetimeout` is carried but adds no check of its own.
        public var dialTimeout: TimeAmount? = .seconds(1)
        public var readTimeout: TimeAmount? = .seconds(1)
        public var writeTimeout: TimeAmount? = .seconds(1)
        /// `pool.maxactive`, `pool.maxidle`, `pool.idletimeout` (see `limit`).
        public var maxActive = 0
        public var maxIdle = 16
        public var idleTimeout: Duration = .seconds(300)
        /// `tls.enabled`.
        public var tls = false

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    public let configuration: Configuration
    private var connections: [(connection: RedisConnection, lastUsed: ContinuousClock.Instant)] = []
    private var next = 0
    private var connecting: Task<RedisConnection, any Error>?
    /// After a failed connect, commands fail at once for a moment instead of each waiting for
    /// its own connect: an outage must not slow every request down.
    private var downUntil: ContinuousClock.Instant?
    private var lastFailure = ""
    static let retryAfter: Duration = .seconds(1)

    public init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    /// Commands are pipelined, so a few connections carry any load: `pool.maxactive` of them,
    /// at most 8, and 4 when it is 0 (no limit).
    private var limit: Int { configuration.maxActive > 0 ? min(configuration.maxActive, 8) : 4 }

    /// Sends one command; throws `RedisError` when Redis cannot be reached, times out, or
    /// answers with an error.
    public func command(_ arguments: [String]) async throws -> String? {
        try await pipeline([arguments])[0]
    }

    /// Several commands in one write, replies in order.
    public func pipeline(_ commands: [[String]]) async throws -> [String?] {
        let connection = try await connection()
        do {
            return try await connection.send(commands).map { try $0.throwingOnError().text }
        } catch {
            if !connection.isActive { drop(connection) }
            throw (error as? RedisError) ?? RedisError.unavailable("\(error)")
        }
    }

    /// A live connection: a new one while the pool is below its limit, else the next in turn.
    private func connection() async throws -> RedisConnection {
        let now = ContinuousClock.now
        connections.removeAll { !$0.connection.isActive }
        closeIdle(now)
        if connections.count < limit, downUntil.map({ now >= $0 }) ?? true {
            do {
                try await open()
            } catch {
                if connections.isEmpty { throw error }  // else carry on with the ones there are
            }
        }
        guard !connections.isEmpty else { throw RedisError.unavailable(lastFailure) }
        next = (next + 1) % connections.count
        connections[next].lastUsed = now
        return connections[next].connection
    }

    private func open() async throws {
        let task = connecting ?? Task { [configuration] in try await RedisConnection.connect(configuration) }
        connecting = task
        do {
            let connection = try await task.value
            connecting = nil
            downUntil = nil
            if !connections.contains(where: { $0.connection === connection }) {
                connections.append((connection, .now))
            }
        } catch {
            connecting = nil
            downUntil = .now + Self.retryAfter
            lastFailure = "\(configuration.host):\(configuration.port): \(error)"
            throw (error as? RedisError) ?? RedisError.unavailable(lastFailure)
        }
    }

    /// Connections unused for `idletimeout` are closed while more than `maxidle` are open.
    private func closeIdle(_ now: ContinuousClock.Instant) {
        while connections.count > max(1, configuration.maxIdle),
            let index = connections.firstIndex(where: { now - $0.lastUsed > configuration.idleTimeout })
        {
            let idle = connections.remove(at: index).connection
            Task { await idle.close() }
        }
    }

    private func drop(_ connection: RedisConnection) {
        connections.removeAll { $0.connection === connection }
        Task { await connection.close() }
    }

    /// Closes every connection (at shutdown).
    public func close() async {
        for entry in connections { await entry.connection.close() }
        connections = []
    }
}
