public import BerthStorage
public import OCI

/// A blob as it can be served: its digest and size.
public struct BlobInfo: Sendable {
    public let digest: Digest
    public let size: Int64
    /// Where the bytes are, for the store that found them.
    let path: String
}

/// Where a download's bytes come from, for the API to answer with: a local file it can send
/// with `sendfile`, a URL the client is redirected to, or a stream of bytes.
public enum BlobContent: Sendable {
    case localFile(path: String)
    case redirect(url: String)
    /// The bytes from the offset asked for, to the blob's end.
    case stream(ByteChunks)
}
