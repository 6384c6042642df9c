internal import OCI

/// This process's hash states of uploads in progress, kept between PATCHes so that neither the
/// next PATCH nor the final PUT reads anything back. A state is used only if it covers exactly
/// the bytes stored. After a restart or on another replica the state stored beside the upload
/// stands in (`UploadStore`); this cache saves reading it on every request.
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
