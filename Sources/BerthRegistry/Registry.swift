public import BerthStorage
internal import Foundation
public import Logging
public import OCI

/// The registry domain over one storage driver: blobs, uploads, manifests, tags, referrers and
/// the catalog of one registry. It knows nothing of HTTP; handlers call it with parsed values.
public struct Registry: Sendable {
    public struct Options: Sendable {
        /// `storage.delete.enabled`: deleting blobs and manifests is allowed.
        public var deleteEnabled = false
        /// `storage.maintenance.readonly.enabled`: pushes and deletes are refused.
        public var readOnly = false
        /// `validation.manifests.urls`: which foreign-layer URLs a manifest may carry.
        public var foreignLayerURLs = ForeignLayerPolicy()

        public init() {}
    }

    public let driver: any StorageDriver
    public let layout = RegistryLayout()
    public let options: Options
    let uploadHashes = UploadHashes()
    let logger: Logger

    public init(driver: any StorageDriver, options: Options = Options(), logger: Logger) {
        self.driver = driver
        self.options = options
        self.logger = logger
    }

    /// Refuses a change when the registry is in read-only maintenance mode.
    func requireWritable() throws(RegistryError) {
        if options.readOnly {
            throw RegistryError(.unsupported, "the registry is in read-only mode")
        }
    }

    func requireDeleteEnabled() throws(RegistryError) {
        try requireWritable()
        guard options.deleteEnabled else {
            throw RegistryError(.unsupported, "deletion is disabled (storage.delete.enabled is false)")
        }
    }

    // MARK: links

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

    /// Removes a link file with its directory, so that listings keep no empty entry.
    func deleteLink(_ path: String) async throws {
        try await deleteIfPresent(String(path.dropLast("/link".count)))
    }

    func deleteIfPresent(_ path: String) async throws {
        do {
            try await driver.delete(path)
        } catch StorageError.notFound {}
    }

    /// Whether the repository exists at all (has ever had content).
    public func repositoryExists(_ name: RepositoryName) async throws -> Bool {
        try await exists(layout.repository(name))
    }
}
