import BerthAPI
import ServiceLifecycle

/// Marks the registry as draining the moment graceful shutdown begins. It is the last service
/// of the group, so the first one told to stop: readiness turns false before the API server
/// stops accepting connections.
struct DrainWatch: Service {
    let draining: Draining

    func run() async throws {
        try? await gracefulShutdown()
        draining.begin()
    }
}
