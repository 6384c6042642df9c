internal import Foundation

/// A parsed manifest or index. The pushed bytes are kept as they came: they are what is stored,
/// served and digested, never a re-encoding.
public struct Manifest: Sendable {
    public enum Kind: Sendable { case image, index }

    /// The largest manifest accepted, as registry:2 does.
    public static let maximumSize = 4 * 1024 * 1024

    public let bytes: [UInt8]
    public let mediaType: String
    public let kind: Kind
    public let config: Descriptor?
    public let layers: [Descriptor]
    public let manifests: [Descriptor]
    public let subject: Descriptor?
    public let artifactType: String?
    public let annotations: [String: String]?

    private struct Wire: Decodable {
        var schemaVersion: Int?
        var mediaType: String?
        var artifactType: String?
        var config: Descriptor?
        var layers: [Descriptor]?
        var manifests: [Descriptor]?
        var subject: Descriptor?
        var annotations: [String: String]?
    }

    /// Parses and checks a manifest as pushed with `contentType`.
    public init(bytes: [UInt8], contentType: String?) throws(RegistryError) {
        guard bytes.count <= Self.maximumSize else {
            throw RegistryError(
                .sizeInvalid, "manifest is \(bytes.count) bytes; the limit is \(Self.maximumSize)",
                condition: .tooLarge)
        }
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(bytes))
        } catch {
            throw RegistryError(.manifestInvalid, "manifest is not a valid JSON manifest: \(Self.describe(error))")
        }
        let headerType = contentType.map(MediaType.essence)
        if wire.schemaVersion == 1 || wire.mediaType == MediaType.dockerSchema1
            || wire.mediaType == MediaType.dockerSchema1Signed || headerType == MediaType.dockerSchema1
            || headerType == MediaType.dockerSchema1Signed
        {
            throw RegistryError(
                .manifestInvalid,
                "Docker schema1 manifests are deprecated and not supported; push schema2 or OCI manifests")
        }
        guard wire.schemaVersion == 2 else {
            throw RegistryError(.manifestInvalid, "manifest schemaVersion must be 2")
        }

        let mediaType: String
        if let declared = wire.mediaType {
            if let headerType, MediaType.manifestTypes.contains(headerType), headerType != declared {
                throw RegistryError(
                    .manifestInvalid,
                    "Content-Type \(headerType) does not match the manifest's mediaType \(declared)")
            }
            mediaType = declared
        } else if let headerType, MediaType.manifestTypes.contains(headerType) {
            mediaType = headerType
        } else {
            // OCI manifests may omit mediaType; the structure tells which one it is.
            mediaType = wire.manifests != nil ? MediaType.ociIndex : MediaType.ociManifest
        }
        guard MediaType.manifestTypes.contains(mediaType) else {
            throw RegistryError(.manifestInvalid, "unsupported manifest media type \(mediaType)")
        }

        let kind: Kind = MediaType.indexTypes.contains(mediaType) ? .index : .image
        switch kind {
        case .image:
            guard let config = wire.config else {
                throw RegistryError(.manifestInvalid, "image manifest has no config descriptor")
            }
            _ = try config.digest()
            guard wire.manifests == nil else {
                throw RegistryError(.manifestInvalid, "image manifest must not have a manifests list")
            }
        case .index:
            guard wire.manifests != nil else {
                throw RegistryError(.manifestInvalid, "index has no manifests list")
            }
            guard wire.config == nil, wire.layers == nil else {
                throw RegistryError(.manifestInvalid, "an index must not have config or layers")
            }
        }
        for descriptor in (wire.layers ?? []) + (wire.manifests ?? []) {
            _ = try descriptor.digest()
            guard descriptor.size >= 0 else {
                throw RegistryError(.manifestInvalid, "descriptor \(descriptor.digestText) has a negative size")
            }
        }
        if let subject = wire.subject { _ = try subject.digest() }

        self.bytes = bytes
        self.mediaType = mediaType
        self.kind = kind
        self.config = wire.config
        self.layers = wire.layers ?? []
        self.manifests = wire.manifests ?? []
        self.subject = wire.subject
        self.artifactType = wire.artifactType
        self.annotations = wire.annotations
    }

    /// What a referrers list reports for this manifest: its own artifactType, else its config's media type.
    public var effectiveArtifactType: String? {
        artifactType ?? (kind == .image ? config?.mediaType : nil)
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.keyNotFound(_, let context), DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
