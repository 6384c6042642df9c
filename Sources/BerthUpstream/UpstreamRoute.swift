internal import BerthConfig
internal import OCI

/// Which repository names belong to an upstream, and what each is called there and in the
/// cache. A name reaches an upstream by a prefix (`docker.io/library/alpine`), by containerd's
/// `ns` naming the upstream (its prefix or host), or, for the default upstream, un-prefixed
/// (`library/alpine`, what Docker's `registry-mirrors` asks for).
struct UpstreamRoute: Sendable {
    let upstream: Configuration.Upstream
    /// Names that stay local even where this default upstream would take them.
    let local: [RepositoryPattern]
    /// Prefixes of every configured upstream: a name under another's prefix is not ours.
    let allPrefixes: Set<String>

    /// Docker Hub keeps official images under `library/`, and clients may leave it out.
    var impliesLibrary: Bool {
        upstream.prefixes.contains("docker.io") || ["registry-1.docker.io", "index.docker.io"].contains(upstream.host)
    }

    /// The upstream's name for the repository, or nil when the repository is not this
    /// upstream's.
    func upstreamName(_ name: RepositoryName, ns: String?) -> String? {
        let parts = name.value.split(separator: "/", maxSplits: 1).map(String.init)
        if parts.count == 2, upstream.prefixes.contains(parts[0]) { return qualified(parts[1]) }
        if let ns, ns == upstream.host || upstream.prefixes.contains(ns) { return qualified(name.value) }
        if upstream.isDefault, ns == nil || ns == "", !allPrefixes.contains(parts[0]),
            !local.contains(where: { $0.matches(name.value) })
        {
            return qualified(name.value)
        }
        return nil
    }

    private func qualified(_ path: String) -> String {
        impliesLibrary && !path.contains("/") ? "library/\(path)" : path
    }

    /// Where mirrored content is kept: under the first prefix, so that a prefixed, an `ns`
    /// and a default-route pull of one image share one cache (`docker.io/library/alpine`).
    func cacheName(_ upstreamName: String) throws(RegistryError) -> RepositoryName {
        try RepositoryName(upstream.prefixes.first.map { "\($0)/\(upstreamName)" } ?? upstreamName)
    }

    /// Whether the allow and deny patterns let the repository through (deny wins).
    func permits(_ upstreamName: String) -> Bool {
        if upstream.deny.contains(where: { RepositoryPattern(text: $0).matches(upstreamName) }) { return false }
        return upstream.allow.isEmpty || upstream.allow.contains { RepositoryPattern(text: $0).matches(upstreamName) }
    }
}
