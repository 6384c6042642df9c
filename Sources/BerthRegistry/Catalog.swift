internal import BerthStorage

extension Registry {
    /// Repository names in lexical order, after `last`, at most `limit`.
    ///
    /// Like registry:2, a repository is a directory under `repositories/` that holds `_layers`
    /// (or `_manifests`); directories starting with `_` are never descended into.
    public func repositories(after last: String? = nil, limit: Int) async throws -> [String] {
        var names = try await repositoryDirectories()
            .filter { $0.children.contains("_layers") || $0.children.contains("_manifests") }
            .map(\.name)
            .sorted()
        if let last { names = names.filter { $0 > last } }
        return Array(names.prefix(limit))
    }

    /// Every directory under `repositories/` that holds registry data (`_…` children), with
    /// the names of its children.
    func repositoryDirectories() async throws -> [(name: String, children: [String])] {
        var found: [(name: String, children: [String])] = []
        try await walk(layout.repositories, prefix: "", into: &found)
        return found
    }

    private func walk(
        _ directory: String, prefix: String, into found: inout [(name: String, children: [String])]
    )
        async throws
    {
        let children = try await listIfPresent(directory)
        if !prefix.isEmpty, children.contains(where: { $0.hasPrefix("_") }) {
            found.append((prefix, children))
        }
        for child in children where !child.hasPrefix("_") && !child.hasPrefix(".") {
            let path = "\(directory)/\(child)"
            guard (try? await driver.stat(path))?.isDirectory == true else { continue }
            try await walk(path, prefix: prefix.isEmpty ? child : "\(prefix)/\(child)", into: &found)
        }
    }
}
