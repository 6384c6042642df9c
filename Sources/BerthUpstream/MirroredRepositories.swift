public import BerthConfig
public import OCI

/// Which stored repositories are an upstream's cache, as the mirror's routes name them, for
/// tools that run without the mirror (garbage collection leaves these to the mirror's expiry).
public struct MirroredRepositories: Sendable {
    let routes: [UpstreamRoute]

    public init(_ mirror: Configuration.Mirror) {
        let prefixes = Set(mirror.upstreams.flatMap(\.prefixes))
        routes = mirror.upstreams.map {
            UpstreamRoute(upstream: $0, local: mirror.local.map(RepositoryPattern.init), allPrefixes: prefixes)
        }
    }

    public func contains(_ name: RepositoryName) -> Bool {
        routes.contains { $0.upstreamName(name, ns: nil) != nil }
    }
}
