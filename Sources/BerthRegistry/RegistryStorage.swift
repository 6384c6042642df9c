internal import BerthCache
internal import BerthStorage
internal import Foundation
internal import Logging
internal import OCI

/// The storage driver as the stores use it: registry:2's link files, and presence, listing and
/// deletion that treat an absent path as empty rather than as an error; with the descriptor
/// cache in front of the links and stats every pull reads.
struct RegistryStorage: Sendable {
    let driver: any StorageDriver
    let cache: any DescriptorCache
    let layout = RegistryLayout()
    let logger: Logger

    // MARK: repository links, through the cache

    func linkPath(_ name: RepositoryName, _ digest: Digest, _ kind: LinkKind) -> String {
        switch kind {
        case .layer: layout.layerLink(name, digest)
        case .manifest: layout.revisionLink(name, digest)
        }
    }

    /// Whether the repository links the digest as `kind`.
    func isLinked(_ name: RepositoryName, _ digest: Digest, as kind: LinkKind) async throws -> Bool {
        if await cache.isLinked(digest, as: kind, in: name) == true { return true }
        guard try await readLink(linkPath(name, digest, kind)) != nil else { return false }
        await cache.rememberLink(digest, as: kind, in: name)
        return true
    }

    func link(_ name: RepositoryName, _ digest: Digest, as kind: LinkKind) async throws {
        try await writeLink(linkPath(name, digest, kind), digest)
        await cache.rememberLink(digest, as: kind, in: name)
    }

    func unlink(_ name: RepositoryName, _ digest: Digest, as kind: LinkKind) async throws {
        try await deleteLink(linkPath(name, digest, kind))
        await cache.forgetLink(digest, as: kind, in: name)
    }

    // MARK: storage

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

    /// Children of a directory (a page of them: after `after`, at most `limit`); an absent
    /// directory has none.
    func listIfPresent(_ path: String, after: String? = nil, limit: Int? = nil) async throws -> [String] {
        do {
            return try await driver.list(path, after: after, limit: limit)
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
