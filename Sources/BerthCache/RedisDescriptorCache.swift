public import Logging
public import OCI
internal import Synchronization

/// The descriptor cache every replica shares (`storage.cache.blobdescriptor: redis`): since all
/// of them write through it, it keeps tags too, and a tag moved on one replica is answered by
/// the next from Redis.
///
/// Redis is a cache, never the truth: when it cannot be reached, every answer is a miss, every
/// write is skipped, the outage is logged once (and its end), and requests are served from
/// storage. Entries expire (tags after an hour, the rest after a day), so that a delete whose
/// invalidation was lost to an outage is not remembered for ever. Keys start with `berth:`,
/// apart from registry:2's in a shared Redis.
public final class RedisDescriptorCache: DescriptorCache {
    let client: RedisClient
    let logger: Logger
    private let down = Mutex(false)

    static let tagLifetime = 3600
    static let lifetime = 86_400

    public init(client: RedisClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    static func blobKey(_ digest: Digest) -> String { "berth:blob:\(digest)" }
    static func linkKey(_ digest: Digest, _ kind: LinkKind, _ name: RepositoryName) -> String {
        "berth:link:\(kind.rawValue):\(name):\(digest)"
    }
    static func tagKey(_ tag: Tag, _ name: RepositoryName) -> String { "berth:tag:\(name):\(tag)" }

    public func descriptor(of digest: Digest) async -> BlobDescriptor? {
        guard let value = await run(["GET", Self.blobKey(digest)]) ?? nil else { return nil }
        // "<size> <media type>", the media type "-" when not known.
        let fields = value.split(separator: " ", maxSplits: 1)
        guard let size = fields.first.flatMap({ Int64($0) }) else { return nil }
        let mediaType = fields.count > 1 && fields[1] != "-" ? String(fields[1]) : nil
        return BlobDescriptor(digest: digest, size: size, mediaType: mediaType)
    }

    public func remember(_ descriptor: BlobDescriptor) async {
        let value = "\(descriptor.size) \(descriptor.mediaType ?? "-")"
        await run(["SET", Self.blobKey(descriptor.digest), value, "EX", String(Self.lifetime)])
    }

    public func forgetDescriptor(of digest: Digest) async {
        await run(["DEL", Self.blobKey(digest)])
    }

    public func isLinked(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async -> Bool? {
        await run(["GET", Self.linkKey(digest, kind, name)]) ?? nil == "1" ? true : nil
    }

    public func rememberLink(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async {
        await run(["SET", Self.linkKey(digest, kind, name), "1", "EX", String(Self.lifetime)])
    }

    public func forgetLink(_ digest: Digest, as kind: LinkKind, in name: RepositoryName) async {
        await run(["DEL", Self.linkKey(digest, kind, name)])
    }

    public func digest(of tag: Tag, in name: RepositoryName) async -> Digest? {
        guard let value = await run(["GET", Self.tagKey(tag, name)]) ?? nil else { return nil }
        return try? Digest(parsing: value)
    }

    /// A fill after a miss does not replace an entry another replica set meanwhile (`NX`):
    /// what it read from storage may already be older than that.
    public func rememberTag(_ tag: Tag, in name: RepositoryName, as digest: Digest, replacing: Bool) async {
        var command = ["SET", Self.tagKey(tag, name), digest.description, "EX", String(Self.tagLifetime)]
        if !replacing { command.append("NX") }
        await run(command)
    }

    public func forgetTag(_ tag: Tag, in name: RepositoryName) async {
        await run(["DEL", Self.tagKey(tag, name)])
    }

    /// The reply, or nil (with the outage noted) when Redis cannot answer.
    @discardableResult
    private func run(_ command: [String]) async -> String?? {
        do {
            let reply = try await client.command(command)
            if down.withLock({ wasDown in
                defer { wasDown = false }; return wasDown
            }) {
                logger.info("redis is reachable again; the descriptor cache is in use")
            }
            return .some(reply)
        } catch {
            if !down.withLock({ wasDown in
                defer { wasDown = true }; return wasDown
            }) {
                logger.warning(
                    "redis is unavailable; serving from storage until it is back", metadata: ["error": "\(error)"])
            }
            return nil
        }
    }
}
