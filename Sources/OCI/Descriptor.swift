/// A content descriptor as manifests carry it.
public struct Descriptor: Codable, Sendable, Hashable {
    public var mediaType: String
    public var digestText: String
    public var size: Int64
    public var urls: [String]?
    public var annotations: [String: String]?
    public var artifactType: String?

    enum CodingKeys: String, CodingKey {
        case mediaType, size, urls, annotations, artifactType
        case digestText = "digest"
    }

    public init(
        mediaType: String, digest: Digest, size: Int64, annotations: [String: String]? = nil,
        artifactType: String? = nil
    ) {
        self.mediaType = mediaType
        self.digestText = digest.description
        self.size = size
        self.annotations = annotations
        self.artifactType = artifactType
    }

    public func digest() throws(RegistryError) -> Digest {
        do {
            return try Digest(parsing: digestText)
        } catch {
            throw RegistryError(.manifestInvalid, "descriptor has an invalid digest: \(error.message)")
        }
    }
}
