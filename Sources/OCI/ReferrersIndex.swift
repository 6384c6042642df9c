internal import Foundation

/// The body of a referrers response: an OCI image index listing descriptors of referrers.
public enum ReferrersIndex {
    private struct Body: Encodable {
        let schemaVersion = 2
        let mediaType = MediaType.ociIndex
        let manifests: [Descriptor]
    }

    public static func encode(_ manifests: [Descriptor]) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings and numbers cannot fail.
        return Array(try! encoder.encode(Body(manifests: manifests)))
    }
}
