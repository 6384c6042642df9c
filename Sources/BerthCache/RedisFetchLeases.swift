public import Logging

/// Fetch leases in the Redis every replica shares: `SET NX PX` takes one, and a small Lua
/// script compares the note before it renews or deletes, so that a replica whose lease expired
/// never renews or frees the next holder's. Keys are `berth:lease:<key>`.
///
/// When Redis cannot be reached, every acquire wins: replicas then download on their own
/// (more upstream traffic for the outage) rather than wait on a lease no one can grant.
public struct RedisFetchLeases: FetchLeases {
    let client: RedisClient
    let logger: Logger

    public init(client: RedisClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    static func key(_ key: String) -> String { "berth:lease:\(key)" }

    static let renewScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) and 1 or 0
        end
        return 0
        """
    static let releaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """

    public func acquire(_ key: String, note: String, lifetime: Duration) async -> String? {
        let redisKey = Self.key(key)
        do {
            // SET … NX GET would answer both at once, but needs Redis 7; two commands in one
            // write work on any.
            let replies = try await client.pipeline([
                ["SET", redisKey, note, "NX", "PX", Self.milliseconds(lifetime)], ["GET", redisKey],
            ])
            if replies[0] == "OK" { return nil }
            // Expired between the two: try once more rather than report a holder that is gone.
            guard let held = replies[1] else { return await acquireOnce(redisKey, note, lifetime) }
            return held
        } catch {
            logger.warning(
                "redis is unavailable; downloading without a shared lease",
                metadata: ["key": "\(key)", "error": "\(error)"])
            return nil
        }
    }

    private func acquireOnce(_ redisKey: String, _ note: String, _ lifetime: Duration) async -> String? {
        let reply = try? await client.command(["SET", redisKey, note, "NX", "PX", Self.milliseconds(lifetime)])
        if reply == "OK" { return nil }
        return (try? await client.command(["GET", redisKey])) ?? nil
    }

    public func renew(_ key: String, note: String, replacing held: String, lifetime: Duration) async -> Bool {
        do {
            let reply = try await client.command([
                "EVAL", Self.renewScript, "1", Self.key(key), held, note, Self.milliseconds(lifetime),
            ])
            return reply == "1"
        } catch {
            // Not known to be lost: the holder goes on, as it would with no Redis at all.
            return true
        }
    }

    public func release(_ key: String, note: String) async {
        _ = try? await client.command(["EVAL", Self.releaseScript, "1", Self.key(key), note])
    }

    public func note(_ key: String) async -> String? {
        (try? await client.command(["GET", Self.key(key)])) ?? nil
    }

    public var isShared: Bool { true }

    static func milliseconds(_ duration: Duration) -> String {
        String(max(1, duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000))
    }
}
