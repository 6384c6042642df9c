public import OCI

extension Registry {
    /// Points a tag at a manifest the way registry:2 does: the index link first, then `current`,
    /// so that a reader never sees a current link without its history.
    func setTag(_ name: RepositoryName, _ tag: Tag, _ digest: Digest) async throws {
        try await writeLink(layout.tagIndexLink(name, tag, digest), digest)
        try await writeLink(layout.tagCurrentLink(name, tag), digest)
    }

    /// The repository's tags in lexical order, after `last`, at most `limit` of them.
    /// Throws `NAME_UNKNOWN` for a repository that does not exist.
    public func tags(_ name: RepositoryName, after last: String? = nil, limit: Int? = nil) async throws -> [String] {
        guard try await repositoryExists(name) else {
            throw RegistryError(
                .nameUnknown, "repository \(name) is not known to the registry", detail: ["name": name.value])
        }
        var tags: [String] = []
        for candidate in try await listIfPresent(layout.tags(name)).sorted() {
            if let last, candidate <= last { continue }
            // A tag directory without a current link is a deleted or half-written tag.
            guard let tag = try? Tag(candidate), try await exists(layout.tagCurrentLink(name, tag)) else { continue }
            tags.append(candidate)
            if let limit, tags.count >= limit { break }
        }
        return tags
    }
}
