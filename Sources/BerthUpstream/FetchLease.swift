internal import BerthCache

/// The lease this process holds on one blob's download, renewed while the download runs, with
/// a note saying where the bytes are staged and, once the upstream said it, how many there
/// are: "<staging path>" or "<staging path> <size>". Other replicas read the note to follow
/// the download in shared storage (`RemoteFetch`).
actor FetchLease {
    /// A holder that stops renewing (killed, stalled) frees the download this long after.
    static let lifetime: Duration = .seconds(30)

    let leases: any FetchLeases
    let key: String
    let staging: String
    private(set) var note: String

    init(_ leases: any FetchLeases, key: String, staging: String) {
        self.leases = leases
        self.key = key
        self.staging = staging
        note = staging
    }

    static func key(_ digest: some CustomStringConvertible) -> String { "mirror:blob:\(digest)" }

    /// The parts of a note: where the bytes are staged, and their size once known.
    static func parse(_ note: String) -> (staging: String, size: Int64?) {
        let fields = note.split(separator: " ", maxSplits: 1)
        return (String(fields.first ?? ""), fields.count > 1 ? Int64(fields[1]) : nil)
    }

    func announce(size: Int64) async {
        let new = "\(staging) \(size)"
        if await leases.renew(key, note: new, replacing: note, lifetime: Self.lifetime) { note = new }
    }

    /// Renews the lease every third of its lifetime until the task is cancelled.
    func keepRenewing() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.lifetime / 3)
            if Task.isCancelled { return }
            _ = await leases.renew(key, note: note, replacing: note, lifetime: Self.lifetime)
        }
    }

    func release() async { await leases.release(key, note: note) }
}
