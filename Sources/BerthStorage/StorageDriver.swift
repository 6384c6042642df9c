public import NIOCore

/// What a storage driver stores: bytes under slash-separated paths, like an object store.
///
/// The protocol is shaped for object stores on purpose: there is no in-place modification, a
/// writer either appends to what a path holds or replaces it, and `move` may be a copy. Registry
/// semantics (digests, links, tags) live above it, in `BerthRegistry`.
public protocol StorageDriver: Sendable {
    /// A short name for logs and errors ("filesystem", "s3").
    var name: String { get }

    /// The whole content of a small object (a link, a manifest). Throws `StorageError.notFound`.
    func getContent(_ path: String) async throws -> [UInt8]

    /// Writes a small object atomically: readers see the old content or the new, never a part.
    func putContent(_ path: String, _ bytes: [UInt8]) async throws

    /// Size and kind of what is at `path`. Throws `StorageError.notFound`.
    func stat(_ path: String) async throws -> StorageInfo

    /// The bytes of `path` from `offset`, in chunks of bounded size.
    func reader(_ path: String, offset: Int64) async throws -> ByteChunks

    /// A writer that appends to `path` (creating it) or, with `append: false`, starts it anew.
    func writer(_ path: String, append: Bool) async throws -> any StorageWriter

    /// The names (not paths) of the direct children of a directory, in lexical order (as object
    /// stores list keys). Throws `StorageError.notFound`.
    func list(_ path: String) async throws -> [String]

    /// Every directory under `path` (itself first, as `""`) with the names of its children in
    /// lexical order,
    /// entering only child directories whose name `enter` accepts. One call for the whole tree,
    /// so that a driver can answer in one pass (the catalog asks for thousands of directories).
    /// Throws `StorageError.notFound` when `path` does not exist.
    func directoryTree(_ path: String, enter: @escaping @Sendable (String) -> Bool) async throws -> [DirectoryListing]

    /// Moves an object to a new path, replacing what was there; atomic for readers of `destination`.
    func move(from source: String, to destination: String) async throws

    /// Deletes an object or a whole directory tree. Throws `StorageError.notFound`.
    func delete(_ path: String) async throws

    /// A URL a client may fetch the object from directly, when the driver supports redirects.
    func redirectURL(_ path: String) async throws -> String?

    /// The local file holding `path`, when the driver keeps content in local files, so that
    /// the HTTP layer can send it with `sendfile`.
    func localFile(_ path: String) -> String?
}

/// Size and kind of a stored path.
public struct StorageInfo: Sendable {
    public let size: Int64
    public let isDirectory: Bool
    public let modified: Double

    public init(size: Int64, isDirectory: Bool, modified: Double) {
        self.size = size
        self.isDirectory = isDirectory
        self.modified = modified
    }
}

/// One directory of a `directoryTree`: its path relative to the tree's root, and its children.
public struct DirectoryListing: Sendable {
    public let path: String
    public let children: [String]

    public init(path: String, children: [String]) {
        self.path = path
        self.children = children
    }
}

/// A streaming writer. Bytes are visible at the path once `commit` returns (for appends:
/// possibly earlier, which is why upload data lives under a private path until it is moved).
public protocol StorageWriter {
    /// Bytes written so far, including what was there when an append began.
    var size: Int64 { get }
    func write(_ buffer: ByteBuffer) async throws
    /// Makes everything written durable and visible, and releases the writer.
    func commit() async throws
    /// Releases the writer, keeping what has been written (an interrupted PATCH keeps its bytes).
    func close() async throws
}

public enum StorageError: Error, Sendable, Equatable {
    case notFound(String)
    case invalidPath(String)
    case io(String)
}
