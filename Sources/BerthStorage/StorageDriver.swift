public import NIOCore

/// What a storage driver stores: bytes under slash-separated paths, like an object store.
///
/// The protocol is what an object store can do, so that S3 implements it as directly as a file
/// system: objects are written whole (`putContent`) or assembled from parts by a multipart
/// upload, never modified in place; `move` may be a copy; listings come in pages. Registry
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

    /// The bytes of `path` from `offset`, `length` of them (nil: to the end), in chunks of
    /// bounded size. Throws `StorageError.notFound`.
    func reader(_ path: String, offset: Int64, length: Int64?) async throws -> ByteChunks

    /// The multipart upload kept at `path`: the one a request before this one began there (in
    /// this process or any other), or a new, empty one. Nothing is stored until a part is. A
    /// `readable` upload's bytes can be read with `uploadReader` while it is written (a replica
    /// following another's mirror download reads them so); the same path must always be opened
    /// the same way.
    func multipartUpload(_ path: String, readable: Bool) async throws -> any MultipartUpload

    /// The bytes a readable upload at `path` has stored so far, from `offset` (none past its
    /// end). Throws `StorageError.notFound` when there is no such upload, or it has completed
    /// and its bytes are no longer there.
    func uploadReader(_ path: String, offset: Int64) async throws -> ByteChunks

    /// The names (not paths) of the direct children of a directory, in lexical order (as object
    /// stores list keys): those after `after`, at most `limit` of them (nil: all). Throws
    /// `StorageError.notFound` for a directory that does not exist.
    func list(_ path: String, after: String?, limit: Int?) async throws -> [String]

    /// Every directory under `path` (itself first, as `""`) with the names of its children in
    /// lexical order, entering only child directories whose name `enter` accepts. One call for
    /// the whole tree, so that a driver can answer in one pass (the catalog asks for thousands
    /// of directories). Throws `StorageError.notFound` when `path` does not exist.
    func directoryTree(_ path: String, enter: @escaping @Sendable (String) -> Bool) async throws -> [DirectoryListing]

    /// Moves an object to a new path, replacing what was there; atomic for readers of `destination`.
    func move(from source: String, to destination: String) async throws

    /// Deletes an object or a whole directory tree. Throws `StorageError.notFound`.
    func delete(_ path: String) async throws

    /// A URL a client may fetch the object from directly, when the driver supports redirects.
    func redirectURL(_ path: String) async throws -> String?

    /// The local file holding `path`, when the driver keeps content in local files and the
    /// object is there, so that the HTTP layer can send it with `sendfile`.
    func localFile(_ path: String) -> String?

    /// The content of a small object read at once, without suspending, where that is cheap (a
    /// local file, from the page cache); nil when the driver cannot, the object is not there or
    /// is larger than `limit`. Called on an event loop, so never anything that waits on a network.
    func contentImmediately(_ path: String, upTo limit: Int) -> [UInt8]?
}

extension StorageDriver {
    /// An upload that is only read once it completes.
    public func multipartUpload(_ path: String) async throws -> any MultipartUpload {
        try await multipartUpload(path, readable: false)
    }

    /// Where an upload is a file, its bytes are readable as they are written.
    public func uploadReader(_ path: String, offset: Int64) async throws -> ByteChunks {
        try await reader(path, offset: offset)
    }

    /// The bytes of `path` from `offset` to the end.
    public func reader(_ path: String, offset: Int64) async throws -> ByteChunks {
        try await reader(path, offset: offset, length: nil)
    }

    /// Drivers over a network cannot read at once.
    public func contentImmediately(_ path: String, upTo limit: Int) -> [UInt8]? { nil }

    /// All the children of a directory.
    public func list(_ path: String) async throws -> [String] {
        try await list(path, after: nil, limit: nil)
    }
}

/// An object assembled from parts, the shape of an S3 multipart upload: each request writes one
/// part after the last, `complete` joins them into one object, `abort` throws them away. The
/// parts are in storage, not in this value: once `finishPart` returns, any process that opens
/// the same path sees them and goes on after them. Used by one task at a time.
public protocol MultipartUpload: AnyObject {
    /// Bytes in the upload: the finished parts and what the current part has taken so far.
    var size: Int64 { get }
    /// Appends bytes to the current part (starting one if none is open).
    func write(_ buffer: ByteBuffer) async throws
    /// Ends the current part, keeping every byte written to it (an interrupted request keeps
    /// what it sent). Nothing to do when no part is open.
    func finishPart() async throws
    /// Joins the parts into one object at `destination`, replacing what is there; readers of
    /// `destination` see the old object or the whole new one. The upload is gone afterwards.
    /// An upload with no parts completes into an empty object.
    func complete(at destination: String) async throws
    /// Discards the parts and the upload; nothing to do when there are none.
    func abort() async throws
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

public enum StorageError: Error, Sendable, Equatable {
    case notFound(String)
    case invalidPath(String)
    case io(String)
}
