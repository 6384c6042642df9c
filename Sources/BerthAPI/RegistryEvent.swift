internal import BerthHTTP
internal import Foundation
internal import NIOHTTP1
internal import OCI

/// One of registry:2's notification events (`application/vnd.docker.distribution.events.v1+json`):
/// a push, pull, mount or delete, with what it was about, the request that made it, who made it
/// and which registry saw it. Field names are registry:2's, so listeners written for it read
/// Berth's events unchanged.
public struct RegistryEvent: Sendable, Encodable {
    public struct Target: Sendable, Encodable {
        public var mediaType: String?
        public var size: Int64?
        public var digest: String?
        /// The same as `size`, as registry:2 sends it.
        public var length: Int64?
        public var repository: String
        public var fromRepository: String?
        public var url: String?
        public var tag: String?
    }

    public struct Request: Sendable, Encodable {
        public var id: String
        public var addr: String
        public var host: String
        public var method: String
        public var useragent: String
    }

    public struct Actor: Sendable, Encodable {
        public var name: String?
    }

    /// The registry that saw the event: its address and this process's instance id.
    public struct Source: Sendable, Encodable {
        public var addr: String
        public var instanceID: String

        public init(addr: String, instanceID: String) {
            self.addr = addr
            self.instanceID = instanceID
        }
    }

    public var id: String
    public var timestamp: String
    public var action: String
    public var target: Target
    public var request: Request
    public var actor: Actor
    public var source: Source

    /// The media type of an envelope of events.
    public static let envelopeMediaType = "application/vnd.docker.distribution.events.v1+json"
}

/// Where events go (the configured endpoints' queues). `post` never waits: a slow or dead
/// endpoint must not slow the request that made the event.
public protocol EventSink: Sendable {
    func post(_ event: RegistryEvent)
}

extension RegistryAPI {
    /// Posts an event about `repository` when events are configured; `target` is filled with
    /// the repository's name.
    func notify(
        _ action: String, _ repository: RepositoryName, _ context: RequestContext,
        digest: Digest? = nil, size: Int64? = nil, mediaType: String? = nil, tag: String? = nil,
        url: String? = nil, from: RepositoryName? = nil
    ) {
        guard let events = options.events else { return }
        let request = context.request
        let target = RegistryEvent.Target(
            mediaType: mediaType, size: size, digest: digest?.description, length: size, repository: repository.value,
            fromRepository: from?.value, url: url, tag: tag)
        events.post(
            RegistryEvent(
                id: UUID().uuidString.lowercased(),
                timestamp: Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)), action: action,
                target: target,
                request: RegistryEvent.Request(
                    id: request.id, addr: request.remoteAddress, host: request.headers.first(name: "host") ?? "",
                    method: request.method.rawValue, useragent: request.headers.first(name: "user-agent") ?? ""),
                actor: RegistryEvent.Actor(name: context.principal.isAnonymous ? nil : context.principal.account),
                source: options.eventSource()))
    }
}
