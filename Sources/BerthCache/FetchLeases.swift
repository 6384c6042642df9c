/// Who performs an upstream download that several processes want at once: the one holding
/// its lease. The lease carries a short note (where the download stages its bytes) so that
/// the others can follow it in shared storage instead of asking the upstream themselves.
///
/// A lease expires unless its holder renews it, so that a holder that died (SIGKILL, a lost
/// machine) frees the download for another within one lifetime. Like the descriptor cache,
/// leases never fail a request: when they cannot be asked, a process downloads on its own.
public protocol FetchLeases: Sendable {
    /// Takes the lease of `key` with `note` for `lifetime`. Returns nil when taken (or when no
    /// one can be asked), or the note of the holder that has it.
    func acquire(_ key: String, note: String, lifetime: Duration) async -> String?

    /// Replaces the note of a lease still held with `note` and starts its lifetime again.
    /// False when it is not held with `note` any more (it expired, another has it).
    func renew(_ key: String, note: String, replacing held: String, lifetime: Duration) async -> Bool

    /// Gives up a lease held with `note`; nothing when another holds it now.
    func release(_ key: String, note: String) async

    /// The note of the lease's holder, nil when no one holds it (or no one can be asked).
    func note(_ key: String) async -> String?

    /// Whether other processes can hold leases: false when the leases are this process's
    /// own, and nothing another replica does is seen.
    var isShared: Bool { get }
}

/// Leases for one process alone: every acquire wins (the mirror joins its own concurrent
/// downloads in memory).
public struct LocalFetchLeases: FetchLeases {
    public init() {}
    public func acquire(_ key: String, note: String, lifetime: Duration) async -> String? { nil }
    public func renew(_ key: String, note: String, replacing held: String, lifetime: Duration) async -> Bool { true }
    public func release(_ key: String, note: String) async {}
    public func note(_ key: String) async -> String? { nil }
    public var isShared: Bool { false }
}
