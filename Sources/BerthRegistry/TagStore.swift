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
        // A tag is a directory under `tags/`, as registry:2 lists them: deleting a tag removes its
        // directory. (Checking each tag's `current` link would cost a file system call per tag.)
        var tags = try await listIfPresent(layout.tags(name))
        if let last { tags.removeAll { $0 <= last } }
        if let limit, tags.count > limit { tags.removeLast(tags.count - limit) }
        return tags
    }
}
