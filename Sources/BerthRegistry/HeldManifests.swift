internal import BerthCache
internal import OCI
internal import Synchronization

/// Which manifests local repositories were pulled with in this process (name and digest), so
/// that the next pull of one is known to be linked without asking storage
/// (`Registry.manifestDigestImmediately`).
///
/// An entry is as durable as a link in the in-memory descriptor cache, which is why entries are
/// kept only beside that cache (`Registry.Options.holdManifests`): a delete in this process
/// forgets it, a delete by another process is not seen, exactly as for the cache. Tags are
/// never held: a tag's link is read from storage on every request.
final class HeldManifests: Sendable {
    private struct Key: Hashable {
        let name: RepositoryName
        let digest: Digest
    }

    private let held: Mutex<Generations<Key, Void>>

    init(capacity: Int = 10_000) {
        held = Mutex(Generations(capacity: capacity))
    }

    func isHeld(_ name: RepositoryName, _ digest: Digest) -> Bool {
        held.withLock { $0.get(Key(name: name, digest: digest)) != nil }
    }

    func hold(_ name: RepositoryName, _ digest: Digest) {
        held.withLock { $0.set(Key(name: name, digest: digest), ()) }
    }

    func forgetAll() {
        held.withLock { $0.removeAll() }
    }

    func forget(_ name: RepositoryName, _ digest: Digest) {
        held.withLock { $0.remove(Key(name: name, digest: digest)) }
    }
}
