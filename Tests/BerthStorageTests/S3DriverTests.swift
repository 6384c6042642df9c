import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import BerthStorage

/// What the S3 driver does beyond the conformance suite, against the SeaweedFS the tests were
/// given: errors that name what to fix, an upload's state in the bucket, presigned URLs.
@Suite(.enabled(if: S3TestServer.current != nil)) struct S3DriverTests {
    let server = S3TestServer.current!

    func driver(_ configure: (inout S3DriverOptions) -> Void = { _ in }) throws -> S3Driver {
        var options = S3DriverOptions()
        options.rootDirectory = "/s3-\(UUID().uuidString.lowercased())"
        options.chunkSize = S3DriverOptions.minimumChunkSize
        configure(&options)
        return try server.driver(options)
    }

    func message(_ operation: () async throws -> Void) async -> String {
        do {
            try await operation()
            return ""
        } catch StorageError.io(let message) {
            return message
        } catch {
            return "\(error)"
        }
    }

    @Test func badCredentialsAreSaidToBeTheCredentials() async throws {
        let driver = try server.driver(credentials: S3Credentials(accessKey: "nobody", secretKey: "wrong"))
        let said = await message { try await driver.putContent("/x", [1]) }
        #expect(said.contains("refused the credentials") && said.contains("accesskey"))
    }

    @Test func aMissingBucketIsNamed() async throws {
        var location = server.location
        location.bucket = "no-such-bucket-\(UUID().uuidString.prefix(8).lowercased())"
        let driver = try server.driver(location: location)
        let said = await message { _ = try await driver.getContent("/x") }
        #expect(said.contains("\(location.bucket) does not exist"))
    }

    @Test func keysAreRegistry2s() async throws {
        let driver = try driver { $0.rootDirectory = "/registry/" }
        #expect(try driver.key("/docker/registry/v2/blobs/x") == "registry/docker/registry/v2/blobs/x")
        #expect(try driver.key("/") == "registry")
        #expect(throws: StorageError.invalidPath("/a/../b")) { try driver.key("/a/../b") }
        let bare = try server.driver()
        #expect(try bare.key("/docker/registry/v2") == "docker/registry/v2")
    }

    /// A replica that uploaded a part and died before storing the new tail leaves a state the
    /// next one reads whole: the old tail is inside that part, and is not counted twice.
    @Test func aStaleTailIsNotCounted() async throws {
        let driver = try driver()
        let client = driver.client
        let key = try driver.key("/up/data")
        let first = patterned(1_000_000)
        try await driver.multipartUpload("/up/data").writePart(first)
        // Play the dead replica: part 1 holds the tail's bytes and more; tail 1 is still there.
        let second = patterned((5 << 20) - 1_000_000 + 10, seed: 3)
        let id = try await client.createMultipartUpload(key, headers: [])
        _ = try await client.uploadPart(key, uploadID: id, number: 1, ByteBuffer(bytes: first + second))
        let upload = try await driver.multipartUpload("/up/data")
        #expect(upload.size == Int64(first.count + second.count))
        try await upload.complete(at: "/blob")
        #expect(try await collect(driver.reader("/blob", offset: 0)) == first + second)
        // Nothing of the upload is left: no tail, no multipart upload.
        #expect(try await client.listObjects(prefix: key, delimiter: nil).keys.isEmpty)
        #expect(try await client.multipartUploads(key).isEmpty)
    }

    @Test func presignedURLsServeTheObjectWithoutCredentials() async throws {
        let driver = try driver()
        try await driver.putContent("/blobs/b", Array("straight from the store".utf8))
        let url = try #require(try await driver.redirectURL("/blobs/b"))
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        #expect(response.status == .ok)
        #expect(
            Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
                == Array("straight from the store".utf8))
        // Tampered, it is refused.
        let tampered = url.replacingOccurrences(of: "/blobs/b", with: "/blobs/c")
        #expect(
            try await HTTPClient.shared.execute(HTTPClientRequest(url: tampered), timeout: .seconds(10)).status
                == .forbidden)
    }

    @Test func s3XMLIsReadWithEntities() throws {
        let xml = try S3XML.parse(
            Array(
                #"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3"><Contents><Key>a&amp;b &lt;c&gt; &#x41;</Key><Size>3</Size></Contents><CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes><IsTruncated>false</IsTruncated><Empty/></ListBucketResult>"#
                    .utf8))
        #expect(xml.name == "ListBucketResult")
        #expect(xml.child("Contents")?.value("Key") == "a&b <c> A")
        #expect(xml.children("CommonPrefixes").compactMap { $0.value("Prefix") } == ["p/"])
        #expect(xml.child("Empty") != nil)
        #expect(throws: S3XML.Malformed.self) { try S3XML.parse(Array("<a><b></a>".utf8)) }
    }
}
