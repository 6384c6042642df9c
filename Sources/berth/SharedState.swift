import BerthCache
import BerthConfig
import Logging
import NIOCore

/// What replicas share through Redis when it is the descriptor cache, else what this process
/// keeps for itself.
enum SharedState {
    /// The descriptor cache, and the mirror's download leases: shared by the replicas through
    /// Redis when it is the cache, else this process's own.
    static func make(
        _ kind: Configuration.BlobDescriptorCache, logger: Logger
    ) -> (any DescriptorCache, any FetchLeases) {
        switch kind {
        case .none: return (NoDescriptorCache(), LocalFetchLeases())
        case .inMemory(let size): return (InMemoryDescriptorCache(capacity: size), LocalFetchLeases())
        case .redis(let redis):
            var client = RedisClient.Configuration(host: redis.host, port: redis.port)
            client.username = redis.username
            client.password = redis.password
            client.db = redis.db
            func amount(_ duration: Duration?) -> TimeAmount? {
                duration.map { .nanoseconds(Int64($0 / .nanoseconds(1))) }
            }
            client.dialTimeout = amount(redis.dialTimeout)
            client.readTimeout = amount(redis.readTimeout)
            client.writeTimeout = amount(redis.writeTimeout)
            client.maxIdle = redis.maxIdle
            client.maxActive = redis.maxActive
            client.idleTimeout = redis.idleTimeout
            client.tls = redis.tls
            let shared = RedisClient(client)
            return (
                RedisDescriptorCache(client: shared, logger: logger), RedisFetchLeases(client: shared, logger: logger)
            )
        }
    }
}
