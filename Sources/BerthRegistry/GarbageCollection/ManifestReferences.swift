internal import Foundation
public import OCI

/// What a stored manifest keeps alive, read leniently: a data directory may hold whatever
/// registry:2 accepted, Docker schema1 among it, so the JSON is read for its references without
/// the checks a push makes.
public struct ManifestReferences: Sendable, Equatable {
    /// Configs and layers (blobs), and the manifests an index names.
    public var blobs: [Digest] = []
    public var manifests: [Digest] = []
    /// The manifest this one refers to (a signature, an SBOM): it is kept while its subject is.
    public var subject: Digest?

    public init(blobs: [Digest] = [], manifests: [Digest] = [], subject: Digest? = nil) {
        self.blobs = blobs
        self.manifests = manifests
        self.subject = subject
    }

    private struct Wire: Decodable {
        struct Reference: Decodable { var digest: String }
        struct SchemaOneLayer: Decodable { var blobSum: String }
        var config: Reference?
        var layers: [Reference]?
        var manifests: [Reference]?
        var subject: Reference?
        var fsLayers: [SchemaOneLayer]?
    }

    /// Throws `Problem` when the bytes are not a JSON manifest or name an invalid digest.
    public init(bytes: [UInt8]) throws(Problem) {
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(bytes))
        } catch {
            throw Problem("is not a JSON manifest")
        }
        func parse(_ text: String) throws(Problem) -> Digest {
            do {
                return try Digest(parsing: text)
            } catch {
                throw Problem("names an invalid digest \"\(text.prefix(80))\"")
            }
        }
        for reference in [wire.config].compactMap({ $0 }) + (wire.layers ?? []) {
            blobs.append(try parse(reference.digest))
        }
        for layer in wire.fsLayers ?? [] { blobs.append(try parse(layer.blobSum)) }
        for reference in wire.manifests ?? [] { manifests.append(try parse(reference.digest)) }
        subject = try wire.subject.map { reference throws(Problem) in try parse(reference.digest) }
    }

    /// Everything referenced, blobs first, as registry:2 marks them.
    public var all: [Digest] { blobs + manifests }

    /// Why stored bytes could not be read as a manifest.
    public struct Problem: Error, Sendable, Equatable {
        public let message: String
        init(_ message: String) { self.message = message }
    }
}
