internal import BerthCache
internal import OCI

/// Tags of repositories (`_manifests/tags/<tag>/current/link` and its index).
struct TagStore: Sendable {
    let storage: RegistryStorage

    var layout: RegistryLayout { storage.layout }

    /// The digest the tag points at, or nil.
    func digest(_ name: RepositoryName, _ tag: Tag) async throws -> Digest? {
        if let known = await storage.cache.digest(of: tag, in: name) { return known }
        guard let digest = try await storage.readLink(layout.tagCurrentLink(name, tag)) else { return nil }
        await storage.cache.rememberTag(tag, in: name, as: digest, replacing: false)
        return digest
    }

    /// Points a tag at a manifest the way registry:2 does: the index link first, then `current`,
    /// so that a reader never sees a current link without its history.
    func set(_ name: RepositoryName, _ tag: Tag, _ digest: Digest) async throws {
        try await storage.writeLink(layout.tagIndexLink(name, tag, digest), digest)
        try await storage.writeLink(layout.tagCurrentLink(name, tag), digest)
        await storage.cache.rememberTag(tag, in: name, as: digest, replacing: true)
    }

    func delete(_ name: RepositoryName, _ tag: Tag) async throws {
        try await storage.deleteIfPresent(layout.tag(name, tag))
        await storage.cache.forgetTag(tag, in: name)
    }

    /// The repository's tags in lexical order, after `last`, at most `limit` of them.
    /// Throws `NAME_UNKNOWN` for a repository that does not exist.
    func list(_ name: RepositoryName, after last: String? = nil, limit: Int? = nil) async throws -> [String] {
        guard try await storage.repositoryExists(name) else {
            throw RegistryError(
                .nameUnknown, "repository \(name) is not known to the registry", detail: ["name": name.value])
        }
        // A tag is a directory under `tags/`, as registry:2 lists them: deleting a tag removes its
        // directory. (Checking each tag's `current` link would cost a file system call per tag.)
        return try await storage.listIfPresent(layout.tags(name), after: last, limit: limit)
    }
}
