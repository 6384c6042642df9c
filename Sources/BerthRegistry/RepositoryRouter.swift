internal import OCI

/// Decides, from a repository's name and the request's `ns`, which namespace serves it: the
/// first routed namespace (an upstream's prefix, its host in `ns`, or a default upstream) that
/// claims it, else local storage. A name no configured namespace claims is never sent anywhere.
struct RepositoryRouter: Sendable {
    let local: any RepositoryNamespace
    let routed: [any RoutedNamespace]

    func namespace(for name: RepositoryName, ns: String?) -> any RepositoryNamespace {
        routed.first { $0.claims(name, ns: ns) } ?? local
    }

    /// Whether local storage serves the repository (what `namespace` answers, without making
    /// an existential of it: this is asked on every immediate answer).
    func isLocal(_ name: RepositoryName, ns: String?) -> Bool {
        routed.isEmpty || !routed.contains { $0.claims(name, ns: ns) }
    }
}
