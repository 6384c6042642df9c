internal import BerthStorage
public import Foundation
internal import OCI

extension Registry {
    /// Deletes uploads started before `cutoff` (registry:2's upload purging): clients that gave
    /// up leave their partial data behind, and nothing else ever removes it. Returns the ids
    /// purged (or, with `dryRun`, that would be).
    @discardableResult
    public func purgeUploads(startedBefore cutoff: Date, dryRun: Bool = false) async throws -> [String] {
        guard !options.readOnly else { return [] }
        var purged: [String] = []
        for repository in try await repositoryDirectories() where repository.children.contains("_uploads") {
            guard let name = try? RepositoryName(repository.path) else { continue }
            let uploads = "\(layout.repository(name))/_uploads"
            for idText in try await listIfPresent(uploads) {
                guard let id = try? UploadID(idText), let started = try await uploadStart(name, id), started < cutoff
                else { continue }
                purged.append("\(name)/\(id)")
                if !dryRun {
                    await uploadHashes.drop(id)
                    try await deleteIfPresent(layout.upload(name, id))
                }
            }
        }
        return purged
    }

    /// When an upload began: its `startedat` file, else the time its directory last changed.
    private func uploadStart(_ name: RepositoryName, _ id: UploadID) async throws -> Date? {
        if let bytes = try? await driver.getContent(layout.uploadStartedAt(name, id)),
            let date = ISO8601DateFormatter().date(
                from: String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        {
            return date
        }
        return (try? await driver.stat(layout.upload(name, id))).map { Date(timeIntervalSince1970: $0.modified) }
    }
}
