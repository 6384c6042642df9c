import NIOHTTP1
import OCI
import Testing

@testable import BerthAPI

@Suite struct RouteTests {
    let digest = "sha256:" + String(repeating: "a", count: 64)

    @Test func parsesEveryEndpoint() throws {
        let name = try RepositoryName("a/blobs/b")
        #expect(try Route(path: "/v2/") == .base)
        #expect(try Route(path: "/v2") == .base)
        #expect(try Route(path: "/v2/_catalog") == .catalog)
        #expect(try Route(path: "/v2/a/blobs/b/tags/list") == .tags(name))
        #expect(try Route(path: "/v2/a/blobs/b/manifests/latest") == .manifest(name, .valid(.tag(try Tag("latest")))))
        #expect(
            try Route(path: "/v2/a/blobs/b/manifests/\(digest)")
                == .manifest(name, .valid(.digest(try Digest(parsing: digest)))))
        #expect(try Route(path: "/v2/a/blobs/b/blobs/\(digest)") == .blob(name, try Digest(parsing: digest)))
        #expect(try Route(path: "/v2/a/blobs/b/blobs/uploads/") == .uploads(name))
        #expect(try Route(path: "/v2/a/blobs/b/blobs/uploads") == .uploads(name))
        #expect(try Route(path: "/v2/a/blobs/b/blobs/uploads/abc") == .upload(name, .init(value: "abc")))
        #expect(try Route(path: "/v2/a/blobs/b/referrers/\(digest)") == .referrers(name, try Digest(parsing: digest)))
        #expect(try Route(path: "/v2/a/manifests/sha256%3A" + String(repeating: "a", count: 64)) != nil)
    }

    @Test func outsideTheAPI() throws {
        #expect(try Route(path: "/v1/") == nil)
        #expect(try Route(path: "/v2x") == nil)
        #expect(try Route(path: "/v2/a/unknown") == nil)
        #expect(try Route(path: "/v2/a/manifests/") == nil)
    }

    @Test func badPartsAreOCIErrors() {
        #expect(throws: RegistryError.self) { try Route(path: "/v2/A/tags/list") }
        #expect(throws: RegistryError.self) { try Route(path: "/v2/a/blobs/sha256:1") }
        #expect(throws: RegistryError.self) { try Route(path: "/v2/a/manifests/sha256:x") }
        #expect(throws: RegistryError.self) { try Route(path: "/v2//tags/list") }
    }

    /// What cannot be a tag is an unknown manifest to a reader, an invalid tag to a writer.
    @Test func invalidTags() throws {
        let route = try Route(path: "/v2/a/manifests/.INVALID_MANIFEST_NAME")
        guard case .manifest(_, let reference) = route else {
            Issue.record("not a manifest route")
            return
        }
        #expect(reference == .invalidTag(".INVALID_MANIFEST_NAME"))
        do {
            _ = try reference.forReading()
        } catch {
            #expect(error.code == .manifestUnknown && ErrorStatus.status(error) == .notFound)
        }
        do {
            _ = try reference.forWriting()
        } catch {
            #expect(error.code == .tagInvalid && ErrorStatus.status(error) == .badRequest)
        }
    }

    @Test func queryDecoding() {
        let t = RequestTarget("/v2/a/blobs/uploads/x?digest=sha256%3Aab&n=5&n=6&flag&sp=a+b")
        #expect(t.path == "/v2/a/blobs/uploads/x")
        #expect(t.query["digest"] == "sha256:ab")
        #expect(t.query["n"] == "5")
        #expect(t.query["flag"] == "")
        #expect(t.query["sp"] == "a b")
    }

    @Test func byteRanges() throws {
        #expect(try ByteRange.parse(nil, size: 10) == nil)
        #expect(try ByteRange.parse("bytes=2-4", size: 10) == ByteRange(start: 2, end: 4))
        #expect(try ByteRange.parse("bytes=8-", size: 10) == ByteRange(start: 8, end: 9))
        #expect(try ByteRange.parse("bytes=-3", size: 10) == ByteRange(start: 7, end: 9))
        #expect(try ByteRange.parse("bytes=5-100", size: 10) == ByteRange(start: 5, end: 9))
        #expect(try ByteRange.parse("bytes=0-1,3-4", size: 10) == nil)
        #expect(try ByteRange.parse("items=0-1", size: 10) == nil)
        for bad in ["bytes=10-", "bytes=4-2", "bytes=x", "bytes=-0", "bytes=-"] {
            #expect(throws: RegistryError.self) { try ByteRange.parse(bad, size: 10) }
        }
    }

    @Test func chunkRanges() throws {
        #expect(try ChunkRange.parse("0-99") == ChunkRange(start: 0, end: 99))
        #expect(try ChunkRange.parse("bytes 100-199/300") == ChunkRange(start: 100, end: 199))
        #expect(try ChunkRange.parse("bytes=5-5") == ChunkRange(start: 5, end: 5))
        for bad in ["", "5", "a-b", "9-3", "-1-2"] {
            #expect(throws: RegistryError.self) { try ChunkRange.parse(bad) }
        }
    }
}
