internal import BerthStorage
internal import Foundation
internal import Logging
internal import OCI

/// The storage driver as the stores use it: registry:2's link files, and presence, listing and
/// deletion that treat an absent path as empty rather than as an error.
struct RegistryStorage: Sendable {
    let driver: any StorageDriver
    let layout = RegistryLayout()
    let logger: Logger

    /// The digest a link file names, or nil when there is no link.
    func readLink(_ path: String) async throws -> Digest? {
        do {
            let bytes = try await driver.getContent(path)
            let text = String(decoding: bytes, as: UTF8.self)
            do {
                return try Digest(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines))
            } catch {
                logger.warning("corrupt link file", metadata: ["path": "\(path)"])
                return nil
            }
        } catch StorageError.notFound {
            return nil
        }
    }

    func writeLink(_ path: String, _ digest: Digest) async throws {
        try await driver.putContent(path, Array(digest.description.utf8))
    }

    /// Removes a link file with its directory, so that listings keep no empty entry.
    func deleteLink(_ path: String) async throws {
        try await deleteIfPresent(String(path.dropLast("/link".count)))
    }

    func exists(_ path: String) async throws -> Bool {
        do {
            _ = try await driver.stat(path)
            return true
        } catch StorageError.notFound {
            return false
        }
    }

    /// Children of a directory; an absent directory has none.
    func listIfPresent(_ path: String) async throws -> [String] {
        do {
            return try await driver.list(path)
        } catch StorageError.notFound {
            return []
        }
    }

    func deleteIfPresent(_ path: String) async throws {
        do {
            try await driver.delete(path)
        } catch StorageError.notFound {}
    }

    /// Whether the repository exists at all (has ever had content).
    func repositoryExists(_ name: RepositoryName) async throws -> Bool {
        try await exists(layout.repository(name))
    }
}
