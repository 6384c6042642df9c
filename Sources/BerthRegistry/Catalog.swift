internal import BerthStorage

extension Registry {
    /// Repository names in lexical order, after `last`, at most `limit`.
    ///
    /// Like registry:2, a repository is a directory under `repositories/` that holds `_layers`
    /// (or `_manifests`); directories starting with `_` are never descended into.
    public func repositories(after last: String? = nil, limit: Int) async throws -> [String] {
        var found: [String] = []
        try await walkRepositories(layout.repositories, prefix: "", into: &found)
        var names = found.sorted()
        if let last { names = names.filter { $0 > last } }
        return Array(names.prefix(limit))
    }

    private func walkRepositories(_ directory: String, prefix: String, into found: inout [String]) async throws {
        let children = try await listIfPresent(directory)
        if !prefix.isEmpty, children.contains("_layers") || children.contains("_manifests") {
            found.append(prefix)
        }
        for child in children where !child.hasPrefix("_") && !child.hasPrefix(".") {
            let path = "\(directory)/\(child)"
            guard (try? await driver.stat(path))?.isDirectory == true else { continue }
            try await walkRepositories(path, prefix: prefix.isEmpty ? child : "\(prefix)/\(child)", into: &found)
        }
    }
}
