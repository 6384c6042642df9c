internal import BerthStorage
internal import Foundation
internal import OCI

extension UploadStore {
    /// Deletes uploads started before `cutoff` in the repositories listed (registry:2's upload
    /// purging). Returns the ids purged (or, with `dryRun`, that would be).
    func purge(in repositories: [DirectoryListing], startedBefore cutoff: Date, dryRun: Bool) async throws -> [String] {
        var purged: [String] = []
        for repository in repositories where repository.children.contains("_uploads") {
            guard let name = try? RepositoryName(repository.path) else { continue }
            for idText in try await storage.listIfPresent(layout.uploads(name)) {
                guard let id = try? UploadID(idText), let started = try await uploadStart(name, id), started < cutoff
                else { continue }
                purged.append("\(name)/\(id)")
                if !dryRun {
                    try await discard(name, id)
                }
            }
        }
        return purged
    }

    /// When an upload began: its `startedat` file, else the time its directory last changed.
    private func uploadStart(_ name: RepositoryName, _ id: UploadID) async throws -> Date? {
        if let bytes = try? await storage.driver.getContent(layout.uploadStartedAt(name, id)),
            let date = try? Date.ISO8601FormatStyle().parse(
                String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        {
            return date
        }
        return (try? await storage.driver.stat(layout.upload(name, id))).map {
            Date(timeIntervalSince1970: $0.modified)
        }
    }
}
