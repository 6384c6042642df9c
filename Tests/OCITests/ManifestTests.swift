import OCI
import Testing

@Suite struct ManifestTests {
    let config = "sha256:" + String(repeating: "c", count: 64)
    let layer = "sha256:" + String(repeating: "d", count: 64)

    func image(mediaType: String? = MediaType.ociManifest, extra: String = "") -> [UInt8] {
        let type = mediaType.map { "\"mediaType\":\"\($0)\"," } ?? ""
        return Array(
            """
            {"schemaVersion":2,\(type)"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(config)","size":2},
             "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\(layer)","size":5}]\(extra)}
            """.utf8)
    }

    @Test func parsesImageManifestKeepingBytes() throws {
        let bytes = image()
        let m = try Manifest(bytes: bytes, contentType: MediaType.ociManifest)
        #expect(m.kind == .image && m.mediaType == MediaType.ociManifest)
        #expect(m.bytes == bytes)
        #expect(try m.config?.digest().description == config)
        #expect(m.layers.count == 1)
        #expect(m.effectiveArtifactType == "application/vnd.oci.image.config.v1+json")
    }

    @Test func infersTypeWithoutMediaTypeField() throws {
        #expect(try Manifest(bytes: image(mediaType: nil), contentType: nil).mediaType == MediaType.ociManifest)
        let index = Array(#"{"schemaVersion":2,"manifests":[]}"#.utf8)
        #expect(try Manifest(bytes: index, contentType: nil).kind == .index)
    }

    @Test func subjectAndArtifactType() throws {
        let subject = "sha256:" + String(repeating: "e", count: 64)
        let m = try Manifest(
            bytes: image(
                extra:
                    #","artifactType":"application/x.sig","subject":{"mediaType":"a","digest":"\#(subject)","size":1}"#),
            contentType: MediaType.ociManifest)
        #expect(try m.subject?.digest().description == subject)
        #expect(m.effectiveArtifactType == "application/x.sig")
    }

    @Test func rejectsMismatchedContentType() {
        #expect(throws: RegistryError.self) { try Manifest(bytes: image(), contentType: MediaType.dockerManifest) }
    }

    @Test func rejectsSchema1AndGarbage() {
        let schema1 = Array(#"{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[]}"#.utf8)
        for (bytes, type) in [
            (schema1, MediaType.dockerSchema1Signed), (Array("nope".utf8), MediaType.ociManifest),
            (Array("{}".utf8), MediaType.ociManifest), (Array(#"{"schemaVersion":2}"#.utf8), MediaType.ociManifest),
            (Array(#"{"schemaVersion":2,"mediaType":"text/plain"}"#.utf8), "text/plain"),
        ] {
            #expect(throws: RegistryError.self) { try Manifest(bytes: bytes, contentType: type) }
        }
    }

    @Test func rejectsBadDescriptorDigest() {
        let bad = Array(
            #"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1},"layers":[]}"#.utf8)
        #expect(throws: RegistryError.self) { try Manifest(bytes: bad, contentType: MediaType.ociManifest) }
    }

    @Test func enforcesSizeLimit() {
        let big = [UInt8](repeating: 0x20, count: Manifest.maximumSize + 1)
        do {
            _ = try Manifest(bytes: big, contentType: MediaType.ociManifest)
            Issue.record("accepted an oversized manifest")
        } catch {
            #expect(error.code == .sizeInvalid && error.condition == .tooLarge)
        }
    }

    @Test func referrersIndexEncoding() throws {
        let d = try Digest(parsing: layer)
        let text = String(
            decoding: ReferrersIndex.encode([Descriptor(mediaType: "m", digest: d, size: 3)]), as: UTF8.self)
        #expect(text.contains(#""mediaType":"application/vnd.oci.image.index.v1+json""#))
        #expect(text.contains(#""digest":"\#(layer)""#))
        #expect(text.contains(#""schemaVersion":2"#))
    }
}
