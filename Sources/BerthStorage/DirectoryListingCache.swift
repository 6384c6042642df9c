internal import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Directory listings kept while the directory does not change, so that `tags/list` and
/// `_catalog` cost a `stat` per directory instead of reading it again (on ext4 reading a
/// directory of 5,000 tags costs more than everything else about the request).
///
/// A listing is reused only when the directory's inode and mtime are what they were when it was
/// read, and the directory had already been quiet for `settle` seconds at that moment. File
/// systems stamp mtimes from a coarse clock (a scheduler tick; a second or two on some), so a
/// change made just after a read can leave the mtime as it was; a directory that changed
/// shortly before it was read is therefore read again each time until it settles — the way git
/// handles "racily clean" index entries. Changes made through another server on the same
/// directory (two instances sharing a volume) are seen the same way, provided the clocks that
/// stamp them agree within `settle`.
final class DirectoryListingCache: Sendable {
    struct Stamp: Equatable {
        let inode: UInt64
        let seconds: Int
        let nanoseconds: Int
    }

    typealias Entries = [(name: String, isDirectory: Bool)]

    private struct Listing {
        let stamp: Stamp
        let entries: Entries
    }

    static let settle = 2
    /// Past this many cached names in all, the cache starts over (each name costs ~50 bytes).
    static let maximumNames = 1_000_000

    private let state = Mutex<(listings: [String: Listing], names: Int)>(([:], 0))

    /// The listing of `full` if it is known and still current, given the directory's stamp now.
    func lookup(_ full: String, _ stamp: Stamp) -> Entries? {
        state.withLock { state in
            guard let listing = state.listings[full], listing.stamp == stamp else { return nil }
            return listing.entries
        }
    }

    /// Keeps a listing read at `readAt` (seconds of the real-time clock) under `stamp`, the
    /// directory's stamp before the read — if the directory had settled by then.
    func store(_ full: String, _ stamp: Stamp, readAt: Int, _ entries: Entries) {
        guard stamp.seconds + Self.settle < readAt else { return }
        state.withLock { state in
            if state.names + entries.count > Self.maximumNames {
                state = ([:], 0)
            }
            if let old = state.listings.updateValue(Listing(stamp: stamp, entries: entries), forKey: full) {
                state.names -= old.entries.count
            }
            state.names += entries.count
        }
    }

    /// The stamp of a directory now; nil if it is gone or not a directory.
    static func stamp(_ full: String) -> Stamp? {
        var st = Glibc.stat()
        guard stat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return nil }
        return Stamp(inode: UInt64(st.st_ino), seconds: st.st_mtim.tv_sec, nanoseconds: st.st_mtim.tv_nsec)
    }

    static func now() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ts.tv_sec
    }
}
