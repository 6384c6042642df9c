internal import OCI

/// The blob downloads running from one upstream, by digest: however many clients ask for a
/// missing blob at once, from however many repositories, it is fetched once.
actor BlobFetches {
    private var running: [Digest: BlobFetch] = [:]

    /// The running download of `digest` (`joined` true), or a new one that `start` performs.
    /// The download runs in a task of its own, so that a client hanging up does not end it for
    /// the others.
    func join(
        _ digest: Digest, staging: @Sendable () -> String, start: @escaping @Sendable (BlobFetch) async -> Void
    ) -> (fetch: BlobFetch, joined: Bool) {
        if let fetch = running[digest] { return (fetch, true) }
        let fetch = BlobFetch(digest: digest, staging: staging())
        running[digest] = fetch
        Task {
            await start(fetch)
            self.finished(digest, fetch)
        }
        return (fetch, false)
    }

    /// The download of `digest` if one runs.
    func current(_ digest: Digest) -> BlobFetch? { running[digest] }

    private func finished(_ digest: Digest, _ fetch: BlobFetch) {
        if running[digest] === fetch { running[digest] = nil }
    }
}
