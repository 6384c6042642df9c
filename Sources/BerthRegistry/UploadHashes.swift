internal import OCI

/// Hash states of uploads in progress, kept between PATCHes so that the final PUT does not
/// read the upload back. A state is used only if it covers exactly the bytes stored: after a
/// restart, on another replica, or after a failed write there is none, and the upload is
/// re-hashed from storage instead. (SHA-256 state cannot be serialised, so this is memory only.)
actor UploadHashes {
    private struct Entry {
        var offset: Int64
        var hasher: DigestHasher
    }

    /// Bounded so that clients opening many uploads cannot grow memory; a dropped state only
    /// costs a re-hash.
    private static let capacity = 4096
    private var entries: [UploadID: Entry] = [:]

    /// Removes and returns the state for `id` if it covers exactly `offset` bytes.
    func take(_ id: UploadID, at offset: Int64) -> DigestHasher? {
        guard let entry = entries.removeValue(forKey: id), entry.offset == offset else { return nil }
        return entry.hasher
    }

    func put(_ id: UploadID, _ hasher: DigestHasher, at offset: Int64) {
        if entries.count >= Self.capacity, let victim = entries.keys.first {
            entries.removeValue(forKey: victim)
        }
        entries[id] = Entry(offset: offset, hasher: hasher)
    }

    func drop(_ id: UploadID) {
        entries.removeValue(forKey: id)
    }
}
