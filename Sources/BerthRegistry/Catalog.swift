internal import BerthStorage

/// Which repositories the registry holds, found by one walk of `repositories/`.
struct Catalog: Sendable {
    let storage: RegistryStorage

    /// Repository names in lexical order, after `last`, at most `limit`.
    ///
    /// Like registry:2, a repository is a directory under `repositories/` that holds `_layers`
    /// (or `_manifests`); directories starting with `_` are never descended into.
    func repositories(after last: String? = nil, limit: Int) async throws -> [String] {
        var names = try await repositoryDirectories()
            .filter { $0.children.contains("_layers") || $0.children.contains("_manifests") }
            .map(\.path)
            .sorted()
        if let last { names = names.filter { $0 > last } }
        return Array(names.prefix(limit))
    }

    /// Every directory under `repositories/` that holds registry data (`_…` children), its path
    /// being the repository name: one tree listing from the driver, not a call per directory.
    func repositoryDirectories() async throws -> [DirectoryListing] {
        let tree: [DirectoryListing]
        do {
            tree = try await storage.driver.directoryTree(storage.layout.repositories) {
                !$0.hasPrefix("_") && !$0.hasPrefix(".")
            }
        } catch StorageError.notFound {
            return []
        }
        return tree.filter { !$0.path.isEmpty && $0.children.contains { $0.hasPrefix("_") } }
    }
}
