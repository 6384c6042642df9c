internal import Foundation
internal import NIOCore
public import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Stores objects as files under a root directory, the way registry:2's filesystem driver does,
/// so that either server can serve the other's data.
///
/// Blocking file system calls run on NIO's thread pool, never on the cooperative executor.
public struct FilesystemDriver: StorageDriver {
    public let name = "filesystem"
    public let root: String
    let threadPool: NIOThreadPool
    /// Nil for a driver that reads each directory once (garbage collection), where keeping
    /// listings would only grow memory with the store.
    let listings: DirectoryListingCache?
    let heldFiles = HeldFiles()
    /// Reads hand out chunks of this size; writes are batched up to it before a system call.
    static let chunkSize = 1 << 20

    public init(root: String, threadPool: NIOThreadPool = .singleton, cachingListings: Bool = true) {
        var root = root
        while root.count > 1, root.hasSuffix("/") { root.removeLast() }
        self.root = root
        self.threadPool = threadPool
        listings = cachingListings ? DirectoryListingCache() : nil
    }

    func fullPath(_ path: String) throws -> String {
        // Byte-wise, since every storage call comes here (character-wise splitting was a tenth
        // of an immediate manifest answer).
        let dot = UInt8(ascii: ".")
        guard path.utf8.first == UInt8(ascii: "/"),
            !path.utf8.split(separator: UInt8(ascii: "/")).contains(where: {
                $0.allSatisfy { $0 == dot } && $0.count <= 2
            })
        else {
            throw StorageError.invalidPath(path)
        }
        return root + path
    }

    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await threadPool.runIfActive(body)
    }

    public func getContent(_ path: String) async throws -> [UInt8] {
        let full = try fullPath(path)
        return try await blocking {
            guard let data = FileManager.default.contents(atPath: full) else {
                throw StorageError.notFound(path)
            }
            return Array(data)
        }
    }

    public func putContent(_ path: String, _ bytes: [UInt8]) async throws {
        let full = try fullPath(path)
        try await blocking {
            let temp = try Self.temporarySibling(of: full)
            do {
                try Self.writeAll(bytes, to: temp)
                try Self.rename(temp, full)
            } catch {
                unlink(temp)
                throw error
            }
        }
    }

    public func stat(_ path: String) async throws -> StorageInfo {
        let full = try fullPath(path)
        return try await blocking { try Self.statSync(full, path) }
    }

    static func statSync(_ full: String, _ path: String) throws -> StorageInfo {
        var st = Glibc.stat()
        guard lstatFile(full, &st) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw StorageError.notFound(path) }
            throw StorageError.io("stat \(path): \(String(cString: strerror(errno)))")
        }
        return StorageInfo(
            size: Int64(st.st_size), isDirectory: (st.st_mode & S_IFMT) == S_IFDIR,
            modified: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
    }

    public func reader(_ path: String, offset: Int64, length: Int64?) async throws -> ByteChunks {
        let full = try fullPath(path)
        let fd = try await blocking { () throws -> CInt in
            let fd = open(full, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT { throw StorageError.notFound(path) }
                throw StorageError.io("open \(path): \(String(cString: strerror(errno)))")
            }
            return fd
        }
        let file = ReadableFile(fd: fd, offset: offset, length: length, threadPool: threadPool)
        return ByteChunks { try await file.next() }
    }

    /// An upload is one file, readable by others as it grows, so every upload is `readable`.
    public func multipartUpload(_ path: String, readable: Bool) async throws -> any MultipartUpload {
        let full = try fullPath(path)
        let size = try await blocking { () throws -> Int64 in
            do {
                return try Self.statSync(full, path).size
            } catch StorageError.notFound {
                return 0
            }
        }
        return FilesystemUpload(driver: self, path: path, full: full, size: size)
    }

    public func list(_ path: String, after: String?, limit: Int?) async throws -> [String] {
        let full = try fullPath(path)
        return try await blocking {
            guard let entries = try listing(full) else { throw StorageError.notFound(path) }
            // The listing is sorted: a page starts after the first name past `after`.
            var start = entries.startIndex
            if let after {
                var (low, high) = (entries.startIndex, entries.endIndex)
                while low < high {
                    let middle = (low + high) / 2
                    if entries[middle].name <= after { low = middle + 1 } else { high = middle }
                }
                start = low
            }
            let end = limit.map { min(entries.endIndex, start + max(0, $0)) } ?? entries.endIndex
            return entries[start..<end].map(\.name)
        }
    }

    public func directoryTree(
        _ path: String, enter: @escaping @Sendable (String) -> Bool
    ) async throws -> [DirectoryListing] {
        let full = try fullPath(path)
        return try await blocking {
            guard let top = try listing(full) else { throw StorageError.notFound(path) }
            var tree: [DirectoryListing] = []
            var pending = [(full: full, relative: "", entries: top)]
            while let directory = pending.popLast() {
                tree.append(DirectoryListing(path: directory.relative, children: directory.entries.map(\.name)))
                for entry in directory.entries where entry.isDirectory && enter(entry.name) {
                    let childFull = "\(directory.full)/\(entry.name)"
                    // A directory removed since its parent was read is simply not there.
                    guard let entries = try listing(childFull) else { continue }
                    let relative = directory.relative.isEmpty ? entry.name : "\(directory.relative)/\(entry.name)"
                    pending.append((childFull, relative, entries))
                }
            }
            return tree
        }
    }

    public func move(from source: String, to destination: String) async throws {
        let from = try fullPath(source)
        let to = try fullPath(destination)
        try await blocking {
            guard access(from, F_OK) == 0 else { throw StorageError.notFound(source) }
            try Self.makeParent(of: to)
            try Self.rename(from, to)
        }
    }

    public func delete(_ path: String) async throws {
        let full = try fullPath(path)
        try await blocking {
            // A file (a link, a blob) in one call; FileManager walks even a single file (several
            // calls), which made deleting 12,000 blobs take seconds.
            if unlink(full) == 0 { return }
            guard errno != ENOENT else { throw StorageError.notFound(path) }
            do {
                try FileManager.default.removeItem(atPath: full)
            } catch {
                throw StorageError.io("delete \(path): \(error)")
            }
        }
    }

    public func redirectURL(_ path: String) async throws -> String? { nil }

    /// One `access` call, on the calling thread: cheaper than the hop to the thread pool.
    public func localFile(_ path: String) -> String? {
        guard let file = try? fullPath(path), access(file, F_OK) == 0 else { return nil }
        return file
    }

    /// Reads on the calling thread (an event loop), from a file held open since the last read
    /// of it (`HeldFiles`): an `fstat` and a `pread` of a few dozen bytes from the page cache,
    /// less than nginx does per request for a static file. On a file system slow enough to make
    /// that wait (a network mount), turn the in-memory cache off: nothing is read at once then.
    public func contentImmediately(_ path: String, upTo limit: Int) -> [UInt8]? {
        heldFiles.read(path, at: { try? fullPath(path) }, upTo: limit)
    }

    // MARK: - helpers run on the thread pool

    /// A directory's entries in lexical order, from the cache while the directory is unchanged;
    /// nil when it does not exist.
    func listing(_ full: String) throws -> DirectoryListingCache.Entries? {
        guard let listings, let stamp = DirectoryListingCache.stamp(full) else {
            return try Self.readDirectory(full)?.sorted { $0.name < $1.name }
        }
        if let cached = listings.lookup(full, stamp) { return cached }
        let readAt = DirectoryListingCache.now()
        guard var entries = try Self.readDirectory(full) else { return nil }
        entries.sort { $0.name < $1.name }
        listings.store(full, stamp, readAt: readAt, entries)
        return entries
    }

    /// The entries of a directory, without `.`, `..` and our own temporary files; nil when it
    /// does not exist. Directory-ness comes from `d_type`, so a listing costs no `stat` per entry
    /// except on file systems that do not fill it in.
    static func readDirectory(_ full: String) throws -> DirectoryListingCache.Entries? {
        guard let dir = opendir(full) else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw StorageError.io("list \(full): \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var entries: DirectoryListingCache.Entries = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard name != "." && name != ".." && !name.hasPrefix(".tmp-") else { continue }
            var isDirectory = Int32(entry.pointee.d_type) == DT_DIR
            if Int32(entry.pointee.d_type) == DT_UNKNOWN {
                var st = Glibc.stat()
                isDirectory = lstatFile("\(full)/\(name)", &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
            }
            entries.append((name, isDirectory))
        }
        return entries
    }

    static func makeParent(of full: String) throws {
        let parent = (full as NSString).deletingLastPathComponent
        // Usually there already (a blob's prefix directory, a repository's).
        if access(parent, F_OK) == 0 { return }
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw StorageError.io("mkdir \(parent): \(error)")
        }
    }

    /// A hidden name beside the destination, so that the final rename stays on one file system.
    static func temporarySibling(of full: String) throws -> String {
        try makeParent(of: full)
        let parent = (full as NSString).deletingLastPathComponent
        return "\(parent)/.tmp-\(UUID().uuidString)"
    }

    static func writeAll(_ bytes: [UInt8], to full: String) throws {
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.io("open \(full): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try bytes.withUnsafeBytes { try writeFully(fd, $0) }
    }

    static func writeFully(_ fd: CInt, _ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.io("write: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else {
            throw StorageError.io("rename \(from) → \(to): \(String(cString: strerror(errno)))")
        }
    }
}

/// `stat(2)` under a name that does not collide with the driver's own `stat`.
private func lstatFile(_ path: String, _ st: inout Glibc.stat) -> CInt {
    stat(path, &st)
}
