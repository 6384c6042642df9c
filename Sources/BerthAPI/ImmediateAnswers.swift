internal import BerthCache
public import BerthHTTP
internal import BerthRegistry
internal import NIOCore
public import NIOHTTP1
internal import OCI
internal import Synchronization

extension RegistryAPI: ImmediateResponder {
    /// Whether `respondImmediately` can ever answer: worth asking on every request.
    public var answersImmediately: Bool { immediate != nil }

    /// Manifest GETs and HEADs of local repositories that the registry knows the answer to
    /// without waiting (`Registry.manifestDigestImmediately`), when no authorization has to run
    /// first: the response `getManifest` gave for the same digest, on the event loop.
    /// Everything else is nil, for `respond`.
    public func respondImmediately(to head: HTTPRequestHead) -> ImmediateResponse? {
        guard let immediate, let target = immediate.target(head.uri) ?? immediateTarget(head.uri, immediate),
            let digest = registry.manifestDigestImmediately(target)
        else { return nil }
        return immediate.response(for: digest)
    }

    /// What the registry answers at once for a request target, if it names a manifest (the
    /// same route table as `respond`), remembered for the next request with the same target.
    private func immediateTarget(_ uri: String, _ immediate: ImmediateAnswers) -> ImmediateTarget? {
        let whole = RequestTarget(uri)
        guard options.services.isEmpty || options.services[whole.path] == nil,
            let target = withoutPrefix(whole, uri),
            case .manifest(let name, let text)? = try? Route(path: target.path),
            let reference = try? text.forReading(),
            let parsed = registry.immediateTarget(name, ns: target.query["ns"], reference)
        else { return nil }
        immediate.remember(parsed, for: uri)
        return parsed
    }
}

/// What immediate answers are made of, kept from the requests served the usual way: manifest
/// responses by digest (a digest's bytes, and so its response, never change), and what the
/// request targets seen before name (the same few are asked again and again, and parsing one
/// cost a tenth of the answer).
final class ImmediateAnswers: Sendable {
    /// Larger manifests (rare: huge indexes) are left to the usual path, so that a few of them
    /// cannot push out thousands of ordinary ones.
    static let largestHeld = 256 * 1024

    private let responses: Mutex<Generations<Digest, ImmediateResponse>>
    private let targets: Mutex<Generations<String, ImmediateTarget>>

    /// `capacity` bounds the bytes of the responses held.
    init(capacity: Int = 16 << 20) {
        responses = Mutex(Generations(capacity: capacity) { 1024 + 2 * $0.bodyLength })
        targets = Mutex(Generations(capacity: 4096))
    }

    func response(for digest: Digest) -> ImmediateResponse? {
        responses.withLock { $0.get(digest) }
    }

    func hold(_ response: HTTPResponse, for digest: Digest) {
        guard case .bytes(let body) = response.body, body.readableBytes <= Self.largestHeld else { return }
        responses.withLock { held in
            // Kept once: the response a digest answers with never changes, and its wire bytes
            // are encoded on first use.
            if held.get(digest) == nil {
                held.set(digest, ImmediateResponse(status: response.status, headers: response.headers, body: body))
            }
        }
    }

    func target(_ uri: String) -> ImmediateTarget? {
        targets.withLock { $0.get(uri) }
    }

    func remember(_ target: ImmediateTarget, for uri: String) {
        targets.withLock { $0.set(uri, target) }
    }
}
