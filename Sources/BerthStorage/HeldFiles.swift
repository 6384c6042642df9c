internal import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Small files kept open for `FilesystemDriver.contentImmediately`, so that reading one again
/// costs an `fstat` and a `pread` instead of a path walk, `open`, `read` and `close` (for a
/// tag's link, read on every manifest pull by tag, that was a tenth of the answer).
///
/// An open file is still the file at its path while it has a link: Berth replaces files by
/// renaming a new one over them and deletes them with their directory, and either leaves the
/// old one with none (`st_nlink` 0), so it is opened again; registry:2 rewrites links in
/// place, which the open file sees. (Only moving a directory by hand under a running registry
/// would go unseen.)
final class HeldFiles: Sendable {
    /// One open descriptor, closed when the last reader lets go of it: a reader on another
    /// event loop may still use one that was just dropped from the table.
    private final class File: Sendable {
        let fd: CInt
        init(fd: CInt) { self.fd = fd }
        deinit { close(fd) }
    }

    /// Few, so that held files never crowd out connections under a low `ulimit -n`.
    static let limit = 128

    private let files = Mutex<[String: File]>([:])

    /// The file's bytes, at most `limit`; nil if it cannot be opened or is larger. `key` names
    /// the file in the table (the caller's path), `fullPath` is where it is.
    func read(_ key: String, at fullPath: () -> String?, upTo limit: Int) -> [UInt8]? {
        if let file = files.withLock({ $0[key] }) {
            var status = stat()
            if fstat(file.fd, &status) == 0, status.st_nlink > 0 {
                return Self.read(file.fd, upTo: limit)
            }
            files.withLock { if $0[key] === file { $0[key] = nil } }
        }
        guard let path = fullPath() else { return nil }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        let file = File(fd: fd)
        files.withLock { held in
            if held.count >= Self.limit { held.removeAll() }
            held[key] = file
        }
        return Self.read(fd, upTo: limit)
    }

    private static func read(_ fd: CInt, upTo limit: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, limit + 1, 0) }
        guard count >= 0, count <= limit else { return nil }
        bytes.removeLast(limit + 1 - count)
        return bytes
    }
}
