import BerthStorage
import Foundation
import NIOCore
import Testing

/// The behaviour every storage driver must have, whatever it stores on: the registry above it
/// relies on nothing else.
@Suite struct DriverConformanceTests {
    @Test(arguments: DriverUnderTest.all)
    func smallObjectsArePutReplacedAndStatted(_ under: DriverUnderTest) async throws {
        let driver = try await under.make()
        try await driver.putContent("/a/b/c", Array("link".utf8))
        #expect(try await driver.getContent("/a/b/c") == Array("link".utf8))
        let info = try await driver.stat("/a/b/c")
        #expect(info.size == 4 && !info.isDirectory)
        #expect(try await driver.stat("/a/b").isDirectory)
        try await driver.putContent("/a/b/c", Array("replaced".utf8))
        #expect(try await driver.getContent("/a/b/c") == Array("replaced".utf8))
        try await driver.putContent("/a/empty", [])
        #expect(try await driver.getContent("/a/empty") == [])
        // Atomic writes leave nothing else behind.
        #expect(try await driver.list("/a/b") == ["c"])
    }

    @Test(arguments: DriverUnderTest.all)
    func missingPathsAreNotFound(_ under: DriverUnderTest) async throws {
        let driver = try await under.make()
        try await driver.putContent("/present", [1])
        await #expect(throws: StorageError.notFound("/nope")) { try await driver.getContent("/nope") }
        await #expect(throws: StorageError.notFound("/nope")) { try await driver.stat("/nope") }
        await #expect(throws: StorageError.notFound("/nope")) { try await driver.list("/nope") }
        await #expect(throws: StorageError.notFound("/nope")) { try await driver.delete("/nope") }
        await #expect(throws: StorageError.notFound("/nope")) { try await driver.reader("/nope", offset: 0) }
        await #expect(throws: StorageError.notFound("/nope")) { try await driver.move(from: "/nope", to: "/q") }
        await #expect(throws: StorageError.notFound("/nope")) {
            try await driver.directoryTree("/nope") { _ in true }
        }
    }

    @Test(arguments: DriverUnderTest.all)
    func anUploadGoesOnFromItsPartsWhoeverOpensItNext(_ under: DriverUnderTest) async throws {
        let driver = try await under.make()
        let first = try await driver.multipartUpload("/up/data")
        #expect(first.size == 0)
        try await first.writePart(Array("hello ".utf8))
        #expect(first.size == 6)
        // Another request (or another process) finds the part in storage.
        let second = try await driver.multipartUpload("/up/data")
        #expect(second.size == 6)
        try await second.write(ByteBuffer(string: "wor"))
        #expect(second.size == 9)
        try await second.write(ByteBuffer(string: "ld"))
        try await second.finishPart()
        #expect(try await driver.multipartUpload("/up/data").size == 11)
        try await second.complete(at: "/blobs/one")
        #expect(try await driver.getContent("/blobs/one") == Array("hello world".utf8))
        // The upload is gone: its path holds nothing and a new upload there starts empty.
        #expect(try await driver.multipartUpload("/up/data").size == 0)
    }

    @Test(arguments: DriverUnderTest.all)
    func largeUploadsCompleteIntoOneObjectThatReadsInRanges(_ under: DriverUnderTest) async throws {
        let driver = try await under.make()
        let bytes = patterned((12 << 20) + 123)
        // Parts of uneven sizes, the way PATCH requests come: small, large, and a small tail.
        let cuts = [0, 1_000, (7 << 20) + 5, bytes.count]
        for (start, end) in zip(cuts, cuts.dropFirst()) {
            try await driver.multipartUpload("/up/big").writePart(bytes[start..<end])
        }
        #expect(try await driver.multipartUpload("/up/big").size == Int64(bytes.count))
        try await driver.multipartUpload("/up/big").complete(at: "/blob")
        #expect(try await driver.stat("/blob").size == Int64(bytes.count))
        #expect(try await collect(driver.reader("/blob", offset: 0)) == bytes)
        #expect(try await collect(driver.reader("/blob", offset: 5_000_000)) == Array(bytes[5_000_000...]))
        #expect(
            try await collect(driver.reader("/blob", offset: 3_000_001, length: 4_500_000))
                == Array(bytes[3_000_001..<7_500_001]))
        #expect(try await collect(driver.reader("/blob", offset: 10, length: 0)) == [])
        // A length past the end reads to the end.
        let tail = Int64(bytes.count - 10)
        #expect(
            try await collect(driver.reader("/blob", offset: tail, length: 100)) == Array(bytes[(bytes.count - 10)...]))
    }

    @Test(arguments: DriverUnderTest.all)
    func anAbortedUploadLeavesNothing(_ under: DriverUnderTest) async throws {
        let driver = try await under.make()
        try await driver.multipartUpload("/up/gone").writePart(patterned(100_000))
        try await driver.multipartUpload("/up/gone").abort()
        #expect(try await driver.multipartUpload("/up/gone").size == 0)
        await #expect(throws: StorageError.notFound("/up/gone")) { try await driver.stat("/up/gone") }
        // Aborting an upload with no parts, or one with a part still open, is fine too.
        try await driver.multipartUpload("/up/never").abort()
        let open = try await driver.multipartUpload("/up/open")
        try await open.write(ByteBuffer(string: "partial"))
        try await open.abort()
        #expect(try await driver.multipartUpload("/up/open").size == 0)
    }

    @Test(arguments: DriverUnderTest.all)
    func anUploadWithNoPartsCompletesEmptyAndCompletingReplaces(_ under: DriverUnderTest) async throws {
        let driver = try await under.make()
        try await driver.multipartUpload("/up/empty").complete(at: "/objects/empty")
        #expect(try await driver.getContent("/objects/empty") == [])
        try await driver.putContent("/objects/x", Array("old".utf8))
        let upload = try await driver.multipartUpload("/up/x")
        try await upload.writePart(Array("new".utf8))
        try await upload.complete(at: "/objects/x")
        #expect(try await driver.getContent("/objects/x") == Array("new".utf8))
        // An upload may also complete where it is, becoming an object at its own path.
        let inPlace = try await driver.multipartUpload("/up/here")
        try await inPlace.writePart(Array("here".utf8))
        try await inPlace.complete(at: "/up/here")
        #expect(try await driver.getContent("/up/here") == Array("here".utf8))
    }

    /// An upload completed where it is and opened again goes on after the object's bytes (a
    /// replica that must re-hash an upload joins its parts in place first).
    @Test(arguments: DriverUnderTest.all)
    func anUploadCompletedInPlaceGoesOnAfterItsObject(_ under: DriverUnderTest) async throws {
        let driver = try await under.make()
        for (path, count) in [("/up/small", 1_000), ("/up/large", (6 << 20) + 3)] {
            let first = patterned(count)
            let upload = try await driver.multipartUpload(path)
            try await upload.writePart(first)
            try await upload.complete(at: path)
            let again = try await driver.multipartUpload(path)
            #expect(again.size == Int64(count))
            try await again.writePart(Array("more".utf8))
            #expect(try await driver.multipartUpload(path).size == Int64(count + 4))
            try await driver.multipartUpload(path).complete(at: path + "-done")
            #expect(try await collect(driver.reader(path + "-done", offset: 0)) == first + Array("more".utf8))
            await #expect(throws: StorageError.notFound(path)) { try await driver.stat(path) }
        }
    }

    @Test(arguments: DriverUnderTest.all)
    func listingsComeInLexicalPages(_ under: DriverUnderTest) async throws {
        let driver = try await under.make()
        // More than one page of an object store's listing (S3 answers at most 1,000 keys).
        let names = (0..<1_100).map { String(format: "t%04d", $0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, name) in names.enumerated() {
                group.addTask { try await driver.putContent("/tags/\(name)/current/link", [1]) }
                if index % 32 == 31 { try await group.next() }
            }
            try await group.waitForAll()
        }
        try await driver.putContent("/tags/zfile", [1])
        // Object stores order keys, not names: "v1.0/…" sorts before "v1/…", "v1" before "v1.0".
        try await driver.putContent("/tags/v1/current/link", [1])
        try await driver.putContent("/tags/v1.0/current/link", [1])
        let all = names + ["v1", "v1.0", "zfile"]
        #expect(try await driver.list("/tags") == all)
        #expect(try await driver.list("/tags", after: "t0999", limit: 3) == ["t1000", "t1001", "t1002"])
        #expect(try await driver.list("/tags", after: "t0999x", limit: nil) == Array(all[1000...]))
        #expect(try await driver.list("/tags", after: "t1099", limit: 1) == ["v1"])
        #expect(try await driver.list("/tags", after: nil, limit: 2) == ["t0000", "t0001"])
        #expect(try await driver.list("/tags", after: "zfile", limit: 5) == [])
        #expect(try await driver.list("/tags", after: nil, limit: 0) == [])
    }

    @Test(arguments: DriverUnderTest.all)
    func treesSkipWhatTheyAreNotToEnter(_ under: DriverUnderTest) async throws {
        let driver = try await under.make()
        for path in ["/r/b/_x", "/r/a/_y", "/r/a/c/_z", "/r/_skip/d/_w", "/r/a/file"] {
            try await driver.putContent(path, [1])
        }
        #expect(try await driver.list("/r") == ["_skip", "a", "b"])
        let tree = try await driver.directoryTree("/r") { !$0.hasPrefix("_") }
        let byPath = Dictionary(uniqueKeysWithValues: tree.map { ($0.path, $0.children) })
        #expect(byPath == ["": ["_skip", "a", "b"], "a": ["_y", "c", "file"], "a/c": ["_z"], "b": ["_x"]])
    }

    @Test(arguments: DriverUnderTest.all)
    func movesReplaceTheirDestinationAndDeletesTakeWholeTrees(_ under: DriverUnderTest) async throws {
        let driver = try await under.make()
        try await driver.putContent("/x/one", [1])
        try await driver.putContent("/y/z/two", [2])
        try await driver.move(from: "/x/one", to: "/y/z/two")
        #expect(try await driver.getContent("/y/z/two") == [1])
        await #expect(throws: StorageError.notFound("/x/one")) { try await driver.stat("/x/one") }
        // A large object moves whole (an object store copies it in parts past a threshold).
        let bytes = patterned((6 << 20) + 17, seed: 13)
        let upload = try await driver.multipartUpload("/up/large")
        try await upload.writePart(bytes)
        try await upload.complete(at: "/staged/large")
        try await driver.move(from: "/staged/large", to: "/blobs/large")
        #expect(try await collect(driver.reader("/blobs/large", offset: 0)) == bytes)
        await #expect(throws: StorageError.notFound("/staged/large")) { try await driver.stat("/staged/large") }
        try await driver.delete("/y")
        await #expect(throws: StorageError.notFound("/y/z/two")) { try await driver.stat("/y/z/two") }
        await #expect(throws: StorageError.notFound("/y")) { try await driver.list("/y") }
    }

    /// A readable upload is read while it is written, from any offset, by whoever opens the same
    /// path (a replica following another's mirror download); reopened, it goes on after its
    /// bytes (a download resumed after a dropped connection).
    @Test(arguments: DriverUnderTest.all)
    func aReadableUploadIsReadWhileItIsWritten(_ under: DriverUnderTest) async throws {
        let driver = try await under.make()
        let path = "/staging/one"
        let bytes = patterned((11 << 20) + 77)
        await #expect(throws: StorageError.notFound(path)) { try await driver.uploadReader(path, offset: 0) }
        try await driver.multipartUpload(path, readable: true).writePart(bytes[0..<3_000])
        #expect(try await collect(driver.uploadReader(path, offset: 0)) == Array(bytes[0..<3_000]))
        let again = try await driver.multipartUpload(path, readable: true)
        #expect(again.size == 3_000)
        // Past one part's size and a short end, then past two.
        try await again.writePart(bytes[3_000..<(7 << 20)])
        #expect(try await collect(driver.uploadReader(path, offset: 2_999)) == Array(bytes[2_999..<(7 << 20)]))
        try await again.writePart(bytes[(7 << 20)...])
        #expect(again.size == Int64(bytes.count))
        for offset in [0, (5 << 20) - 1, 5 << 20, (10 << 20) + 1] {
            #expect(try await collect(driver.uploadReader(path, offset: Int64(offset))) == Array(bytes[offset...]))
        }
        #expect(try await collect(driver.uploadReader(path, offset: Int64(bytes.count))) == [])
        try await driver.multipartUpload(path, readable: true).complete(at: "/blobs/one")
        #expect(try await collect(driver.reader("/blobs/one", offset: 0)) == bytes)
        await #expect(throws: StorageError.notFound(path)) { try await driver.uploadReader(path, offset: 0) }
        #expect(try await driver.multipartUpload(path, readable: true).size == 0)
        // Aborted, it leaves nothing to read.
        try await driver.multipartUpload("/staging/two", readable: true).writePart(patterned(6 << 20))
        try await driver.multipartUpload("/staging/two", readable: true).abort()
        await #expect(throws: StorageError.notFound("/staging/two")) {
            try await driver.uploadReader("/staging/two", offset: 0)
        }
        #expect(try await driver.multipartUpload("/staging/two", readable: true).size == 0)
    }
}
