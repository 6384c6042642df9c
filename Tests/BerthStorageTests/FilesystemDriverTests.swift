import BerthStorage
import Foundation
import Glibc
import NIOCore
import Testing

/// The behaviour every storage driver must have, run here against the filesystem driver.
@Suite struct FilesystemDriverTests {
    let root: String
    let driver: FilesystemDriver

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-fs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        driver = FilesystemDriver(root: root)
    }

    func collect(_ chunks: ByteChunks) async throws -> [UInt8] {
        var out: [UInt8] = []
        for try await chunk in chunks { out += chunk.readableBytesView }
        return out
    }

    @Test func putGetStat() async throws {
        try await driver.putContent("/a/b/c", Array("link".utf8))
        #expect(try await driver.getContent("/a/b/c") == Array("link".utf8))
        #expect(try await driver.stat("/a/b/c").size == 4)
        #expect(try await driver.stat("/a/b").isDirectory)
        try await driver.putContent("/a/b/c", Array("replaced".utf8))
        #expect(try await driver.getContent("/a/b/c") == Array("replaced".utf8))
        // Atomic writes leave no temporary files behind.
        #expect(try await driver.list("/a/b") == ["c"])
    }

    @Test func missingPathsAreNotFound() async throws {
        await #expect(throws: StorageError.notFound("/nope")) { try await driver.getContent("/nope") }
        await #expect(throws: StorageError.notFound("/nope")) { try await driver.stat("/nope") }
        await #expect(throws: StorageError.notFound("/nope")) { try await driver.list("/nope") }
        await #expect(throws: StorageError.notFound("/nope")) { try await driver.delete("/nope") }
        await #expect(throws: StorageError.notFound("/nope")) { try await driver.reader("/nope", offset: 0) }
    }

    @Test func pathsCannotEscapeTheRoot() async throws {
        await #expect(throws: StorageError.invalidPath("/../etc/passwd")) {
            try await driver.getContent("/../etc/passwd")
        }
        await #expect(throws: StorageError.invalidPath("relative")) { try await driver.getContent("relative") }
    }

    @Test func writerAppendsAcrossWriters() async throws {
        let first = try await driver.writer("/up/data", append: true)
        try await first.write(ByteBuffer(string: "hello "))
        try await first.commit()
        let second = try await driver.writer("/up/data", append: true)
        #expect(second.size == 6)
        try await second.write(ByteBuffer(string: "world"))
        #expect(second.size == 11)
        try await second.commit()
        #expect(try await driver.getContent("/up/data") == Array("hello world".utf8))
        let fresh = try await driver.writer("/up/data", append: false)
        try await fresh.write(ByteBuffer(string: "new"))
        try await fresh.commit()
        #expect(try await driver.getContent("/up/data") == Array("new".utf8))
    }

    @Test func largeWritesAndReadsFromOffset() async throws {
        let bytes = (0..<(3 << 20) + 123).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let writer = try await driver.writer("/big", append: false)
        for start in stride(from: 0, to: bytes.count, by: 65_536) {
            try await writer.write(ByteBuffer(bytes: bytes[start..<min(start + 65_536, bytes.count)]))
        }
        try await writer.commit()
        #expect(try await collect(driver.reader("/big", offset: 0)) == bytes)
        #expect(try await collect(driver.reader("/big", offset: 1_000_000)) == Array(bytes[1_000_000...]))
    }

    @Test func moveAndDelete() async throws {
        try await driver.putContent("/x/one", [1])
        try await driver.move(from: "/x/one", to: "/y/z/two")
        #expect(try await driver.getContent("/y/z/two") == [1])
        await #expect(throws: StorageError.notFound("/x/one")) { try await driver.stat("/x/one") }
        await #expect(throws: StorageError.notFound("/x/one")) { try await driver.move(from: "/x/one", to: "/q") }
        try await driver.delete("/y")
        await #expect(throws: StorageError.notFound("/y/z/two")) { try await driver.stat("/y/z/two") }
    }

    @Test func localFileAndNoRedirect() async throws {
        #expect(driver.localFile("/a") == root + "/a")
        #expect(try await driver.redirectURL("/a") == nil)
    }

    @Test func listingsAreSortedAndTreesSkipWhatTheyAreNotToEnter() async throws {
        for path in ["/r/b/_x", "/r/a/_y", "/r/a/c/_z", "/r/_skip/d/_w", "/r/a/file"] {
            try await driver.putContent(path, [1])
        }
        #expect(try await driver.list("/r") == ["_skip", "a", "b"])
        let tree = try await driver.directoryTree("/r") { !$0.hasPrefix("_") }
        let byPath = Dictionary(uniqueKeysWithValues: tree.map { ($0.path, $0.children) })
        #expect(byPath == ["": ["_skip", "a", "b"], "a": ["_y", "c", "file"], "a/c": ["_z"], "b": ["_x"]])
        await #expect(throws: StorageError.notFound("/none")) { try await driver.directoryTree("/none") { _ in true } }
    }

    /// The directory's mtime, and a way to put it back, to play a change the clock did not see.
    func mtime(_ path: String) -> timespec {
        var st = stat()
        _ = stat(root + path, &st)
        return st.st_mtim
    }

    func setMtime(_ path: String, _ time: timespec) {
        var times = [time, time]
        _ = utimensat(AT_FDCWD, root + path, &times, 0)
    }

    @Test func aSettledListingIsReadAgainOnlyWhenTheDirectoryChanges() async throws {
        try await driver.putContent("/t/one/link", [1])
        var old = mtime("/t")
        old.tv_sec -= 60
        setMtime("/t", old)
        #expect(try await driver.list("/t") == ["one"])
        // A change that left the stamp as it was is not seen: the listing came from the cache.
        try await driver.putContent("/t/two/link", [1])
        setMtime("/t", old)
        #expect(try await driver.list("/t") == ["one"])
        // Any change of the stamp is.
        try await driver.putContent("/t/three/link", [1])
        #expect(try await driver.list("/t") == ["one", "three", "two"])
        try await driver.delete("/t/one")
        #expect(try await driver.list("/t") == ["three", "two"])
    }

    @Test func aListingOfARecentlyChangedDirectoryIsNeverReused() async throws {
        try await driver.putContent("/u/one/link", [1])
        let fresh = mtime("/u")
        #expect(try await driver.list("/u") == ["one"])
        // A second change within the clock's granularity leaves the mtime unchanged.
        try await driver.putContent("/u/two/link", [1])
        setMtime("/u", fresh)
        #expect(try await driver.list("/u") == ["one", "two"])
    }
}
