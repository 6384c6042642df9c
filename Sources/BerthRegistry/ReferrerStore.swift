internal import OCI

/// The referrers of manifests (`_referrers/…`, a Berth addition to registry:2's layout).
struct ReferrerStore: Sendable {
    let storage: RegistryStorage
    let manifests: ManifestStore

    /// Descriptors of the manifests in the repository whose `subject` is `digest`, optionally
    /// only those of one artifact type. An unknown subject has no referrers (an empty list).
    func list(
        _ name: RepositoryName, of digest: Digest, artifactType: String? = nil
    ) async throws
        -> [Descriptor]
    {
        var result: [Descriptor] = []
        let directory = storage.layout.referrers(name, subject: digest)
        for algorithmName in try await storage.listIfPresent(directory).sorted() {
            guard let algorithm = Digest.Algorithm(rawValue: algorithmName) else { continue }
            for hex in try await storage.listIfPresent(storage.layout.referrerDigests(name, subject: digest, algorithm))
                .sorted()
            {
                guard let referrer = try? Digest(algorithm: algorithm, hex: hex),
                    let stored = try? await manifests.manifest(name, .digest(referrer)),
                    let manifest = try? Manifest(bytes: stored.bytes, contentType: nil)
                else { continue }
                let type = manifest.effectiveArtifactType
                if let artifactType, type != artifactType { continue }
                result.append(
                    Descriptor(
                        mediaType: manifest.mediaType, digest: referrer, size: Int64(stored.bytes.count),
                        annotations: manifest.annotations, artifactType: type))
            }
        }
        return result
    }
}
