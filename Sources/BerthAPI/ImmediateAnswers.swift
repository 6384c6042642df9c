internal import BerthCache
public import BerthHTTP
internal import BerthRegistry
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
    public func respondImmediately(to head: HTTPRequestHead) -> HTTPResponse? {
        guard let immediate, let target = immediate.manifestTarget(head.uri) ?? manifestTarget(head.uri, immediate),
            let digest = registry.manifestDigestImmediately(target.name, ns: target.ns, target.reference)
        else { return nil }
        return immediate.response(for: digest)
    }

    /// The manifest a request target names, if it names one (the same route table as
    /// `respond`), remembered for the next request with the same target.
    private func manifestTarget(_ uri: String, _ immediate: ImmediateAnswers) -> ImmediateAnswers.ManifestTarget? {
        let whole = RequestTarget(uri)
        guard options.services.isEmpty || options.services[whole.path] == nil,
            let target = withoutPrefix(whole, uri),
            case .manifest(let name, let text)? = try? Route(path: target.path),
            let reference = try? text.forReading()
        else { return nil }
        let parsed = ImmediateAnswers.ManifestTarget(name: name, ns: target.query["ns"], reference: reference)
        immediate.remember(parsed, for: uri)
        return parsed
    }
}

/// What immediate answers are made of, kept from the requests served the usual way: manifest
/// responses by digest (a digest's bytes, and so its response, never change), and the parse
/// of request targets seen before (the same few are asked again and again, and parsing one
/// cost a tenth of the answer).
final class ImmediateAnswers: Sendable {
    struct ManifestTarget: Sendable {
        let name: RepositoryName
        let ns: String?
        let reference: Reference
    }

    /// Larger manifests (rare: huge indexes) are left to the usual path, so that a few of them
    /// cannot push out thousands of ordinary ones.
    static let largestHeld = 256 * 1024

    private let responses: Mutex<Generations<Digest, HTTPResponse>>
    private let targets: Mutex<Generations<String, ManifestTarget>>

    /// `capacity` bounds the bytes of the responses held.
    init(capacity: Int = 16 << 20) {
        responses = Mutex(Generations(capacity: capacity) { 512 + Int($0.impliedLength ?? 0) })
        targets = Mutex(Generations(capacity: 4096))
    }

    func response(for digest: Digest) -> HTTPResponse? {
        responses.withLock { $0.get(digest) }
    }

    func hold(_ response: HTTPResponse, for digest: Digest) {
        guard let length = response.impliedLength, length <= Self.largestHeld else { return }
        responses.withLock { $0.set(digest, response) }
    }

    func manifestTarget(_ uri: String) -> ManifestTarget? {
        targets.withLock { $0.get(uri) }
    }

    func remember(_ target: ManifestTarget, for uri: String) {
        targets.withLock { $0.set(uri, target) }
    }
}
