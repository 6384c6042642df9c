public import OCI

/// Where the content of a set of repositories comes from, as the API reads it: this registry's
/// own storage (`LocalNamespace`), or an upstream registry that a mirror fetches from and caches.
/// Writes are not part of it: pushes and deletes always go to local storage, and only where the
/// namespace allows them.
public protocol RepositoryNamespace: Sendable {
    /// Why clients may not push to or delete from these repositories, or nil when they may.
    var readOnlyReason: String? { get }

    func manifest(_ name: RepositoryName, _ reference: Reference) async throws -> StoredManifest
    /// The blob's size and digest; `download` says whether its bytes are asked for next (a
    /// `GET`) or not (a `HEAD`), so that a mirror fetches only what a client will read.
    func blob(_ name: RepositoryName, _ digest: Digest, download: Bool) async throws -> BlobInfo
    /// Where a download of `length` bytes of `blob` from `offset` gets them; `download` is
    /// false when the bytes must come through Berth (no redirect).
    func content(
        _ name: RepositoryName, _ blob: BlobInfo, from offset: Int64, length: Int64, download: Bool
    ) async throws
        -> BlobContent
    func tags(_ name: RepositoryName, after last: String?, limit: Int?) async throws -> [String]
    func referrers(_ name: RepositoryName, of digest: Digest, artifactType: String?) async throws -> [Descriptor]
}

/// A namespace that serves only some repositories, and says which: the router asks each in
/// turn, and a repository no namespace claims is local.
public protocol RoutedNamespace: RepositoryNamespace {
    /// Whether the repository `name` belongs here, given containerd's `ns` query parameter (the
    /// registry host the client meant), if the request carried one.
    func claims(_ name: RepositoryName, ns: String?) -> Bool
}
