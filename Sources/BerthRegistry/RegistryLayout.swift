internal import Foundation
public import OCI

/// registry:2's storage layout, written down once. Every path Berth reads or writes is made here,
/// so that a data directory is interchangeable between registry:2 2.8 and Berth.
///
///     <root>/docker/registry/v2/
///       blobs/<alg>/<first 2 hex>/<hex>/data                     content of every blob and manifest
///       repositories/<name>/
///         _layers/<alg>/<hex>/link                               blobs linked into the repository
///         _manifests/revisions/<alg>/<hex>/link                  manifests of the repository
///         _manifests/tags/<tag>/current/link                     what the tag points at
///         _manifests/tags/<tag>/index/<alg>/<hex>/link           every manifest the tag has pointed at
///         _uploads/<uuid>/data, startedat                        uploads in progress
///         _uploads/<uuid>/hashstates/sha256/<offset>             SHA-256 state after `offset` bytes
///         _referrers/<alg>/<subject hex>/<alg>/<hex>/link        Berth only: manifests whose subject this is
///       _berth/mirror-staging/<uuid>                             Berth only: blobs being fetched from upstream
///       _berth/mirror-usage/<upstream>/<alg>/<hex>               Berth only: when mirrored content was last used
///       _berth/mirror-referrers/<name>/<alg>/<subject hex>        Berth only: referrers an upstream gave
///       _berth/gc-trash/<alg>/<hex>                              Berth only: blobs garbage collection set aside
///
/// A link file holds the bare `alg:hex` with no newline. Paths on the driver are relative to the
/// driver's root and start with `/`.
public struct RegistryLayout: Sendable {
    public let base = "/docker/registry/v2"

    public init() {}

    public var repositories: String { "\(base)/repositories" }

    public func blobData(_ digest: Digest) -> String {
        "\(base)/blobs/\(digest.algorithm.rawValue)/\(digest.hex.prefix(2))/\(digest.hex)/data"
    }

    public func repository(_ name: RepositoryName) -> String { "\(repositories)/\(name.value)" }

    public func layerLink(_ name: RepositoryName, _ digest: Digest) -> String {
        "\(repository(name))/_layers/\(digest.algorithm.rawValue)/\(digest.hex)/link"
    }

    public func revisions(_ name: RepositoryName) -> String { "\(repository(name))/_manifests/revisions" }

    public func revisionLink(_ name: RepositoryName, _ digest: Digest) -> String {
        "\(revisions(name))/\(digest.algorithm.rawValue)/\(digest.hex)/link"
    }

    public func tags(_ name: RepositoryName) -> String { "\(repository(name))/_manifests/tags" }

    public func tag(_ name: RepositoryName, _ tag: Tag) -> String { "\(tags(name))/\(tag.value)" }

    public func tagCurrentLink(_ name: RepositoryName, _ tag: Tag) -> String {
        "\(self.tag(name, tag))/current/link"
    }

    public func tagIndexLink(_ name: RepositoryName, _ tag: Tag, _ digest: Digest) -> String {
        "\(self.tag(name, tag))/index/\(digest.algorithm.rawValue)/\(digest.hex)/link"
    }

    public func uploads(_ name: RepositoryName) -> String { "\(repository(name))/_uploads" }

    public func upload(_ name: RepositoryName, _ id: UploadID) -> String { "\(uploads(name))/\(id.value)" }

    public func uploadData(_ name: RepositoryName, _ id: UploadID) -> String { "\(upload(name, id))/data" }

    public func uploadStartedAt(_ name: RepositoryName, _ id: UploadID) -> String {
        "\(upload(name, id))/startedat"
    }

    /// The SHA-256 state of an upload's first `offset` bytes (registry:2 writes the same files).
    public func uploadHashState(_ name: RepositoryName, _ id: UploadID, offset: Int64) -> String {
        "\(upload(name, id))/hashstates/sha256/\(offset)"
    }

    public func referrers(_ name: RepositoryName, subject: Digest) -> String {
        "\(repository(name))/_referrers/\(subject.algorithm.rawValue)/\(subject.hex)"
    }

    /// Berth only: blobs a mirror is fetching from upstream, before they are verified. Partial
    /// fetches left by a crash are removed at start-up.
    public var mirrorStaging: String { "\(base)/_berth/mirror-staging" }

    /// Berth only: one record per digest an upstream's cache holds, saying when it was last
    /// used (expiry reads them; they live in storage so that replicas share them).
    public func mirrorUsage(_ upstream: String) -> String { "\(base)/_berth/mirror-usage/\(upstream)" }

    public func mirrorUsageRecord(_ upstream: String, _ digest: Digest) -> String {
        "\(mirrorUsage(upstream))/\(digest.algorithm.rawValue)/\(digest.hex)"
    }

    public func mirrorReferrers(_ name: RepositoryName, _ subject: Digest) -> String {
        "\(base)/_berth/mirror-referrers/\(name.value)/\(subject.algorithm.rawValue)/\(subject.hex)"
    }

    /// Berth only: where garbage collection moves a blob's data before it decides for good,
    /// so that what a push made while it ran can be put back (`GarbageCollector`).
    public var garbageTrash: String { "\(base)/_berth/gc-trash" }

    /// Berth only: rewritten by each garbage collection that removes anything, so that serving
    /// processes whose caches are their own drop them (`Registry.lastCollection`).
    public var garbageCollected: String { "\(base)/_berth/gc-last-run" }

    public func garbageTrash(_ digest: Digest) -> String {
        "\(garbageTrash)/\(digest.algorithm.rawValue)/\(digest.hex)"
    }

    /// All blobs, by algorithm and the first two hex digits of their digest.
    public var blobs: String { "\(base)/blobs" }

    /// The directory of a blob's data (removed whole when the blob is).
    public func blobDirectory(_ digest: Digest) -> String { String(blobData(digest).dropLast("/data".count)) }

    public func referrerDigests(_ name: RepositoryName, subject: Digest, _ algorithm: Digest.Algorithm) -> String {
        "\(referrers(name, subject: subject))/\(algorithm.rawValue)"
    }

    public func referrerLink(_ name: RepositoryName, subject: Digest, _ digest: Digest) -> String {
        "\(referrerDigests(name, subject: subject, digest.algorithm))/\(digest.hex)/link"
    }
}

/// The id of an upload session: a lower-case UUID, as registry:2 makes them.
public struct UploadID: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    /// Parses an id from a URL; anything that is not UUID-shaped is an unknown upload.
    public init(_ text: String) throws(RegistryError) {
        guard text.utf8.count == 36,
            text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || $0 == 0x2d })
        else {
            throw RegistryError(.blobUploadUnknown, "unknown upload id", detail: ["uuid": String(text.prefix(64))])
        }
        value = text
    }

    public static func random() -> UploadID {
        // The alphabet and length always satisfy the parser.
        try! UploadID(UUID().uuidString.lowercased())
    }

    public var description: String { value }
}
