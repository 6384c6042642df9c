internal import OCI

/// The repositories this registry stores itself: pushed by clients, served from storage.
struct LocalNamespace: RepositoryNamespace {
    let stores: Stores
    let readOnlyReason: String? = nil

    func manifest(_ name: RepositoryName, _ reference: Reference) async throws -> StoredManifest {
        let manifest = try await stores.manifests.manifest(name, reference)
        stores.held?.hold(name, manifest.digest)
        return manifest
    }

    func blob(_ name: RepositoryName, _ digest: Digest, download: Bool) async throws -> BlobInfo {
        try await stores.blobs.blob(name, digest, download: download)
    }

    func content(
        _ name: RepositoryName, _ blob: BlobInfo, from offset: Int64, length: Int64, download: Bool
    ) async throws
        -> BlobContent
    {
        try await stores.blobs.content(blob, from: offset, length: length, download: download)
    }

    func tags(_ name: RepositoryName, after last: String?, limit: Int?) async throws -> [String] {
        try await stores.tags.list(name, after: last, limit: limit)
    }

    func referrers(_ name: RepositoryName, of digest: Digest, artifactType: String?) async throws -> [Descriptor] {
        try await stores.referrers.list(name, of: digest, artifactType: artifactType)
    }
}
