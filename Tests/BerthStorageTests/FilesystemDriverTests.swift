import BerthStorage
import Foundation
import Glibc
import NIOCore
import Testing

/// What the filesystem driver does beyond the conformance suite: local files, paths that must
/// not leave the root, uploads readers can follow, and its directory listing cache.
@Suite struct FilesystemDriverTests {
    let root: String
    let driver: FilesystemDriver

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-fs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        driver = FilesystemDriver(root: root)
    }

    @Test func pathsCannotEscapeTheRoot() async throws {
        await #expect(throws: StorageError.invalidPath("/../etc/passwd")) {
            try await driver.getContent("/../etc/passwd")
        }
        await #expect(throws: StorageError.invalidPath("relative")) { try await driver.getContent("relative") }
        await #expect(throws: StorageError.invalidPath("/a/./b")) { try await driver.multipartUpload("/a/./b") }
    }

    @Test func localFileAndNoRedirect() async throws {
        #expect(driver.localFile("/a") == nil)  // nothing there yet
        try await driver.putContent("/a", Array("x".utf8))
        #expect(driver.localFile("/a") == root + "/a")
        #expect(try await driver.redirectURL("/a") == nil)
    }

    /// The mirror's followers read an upload's bytes while it is still being written.
    @Test func anUploadInProgressIsReadableAtItsPath() async throws {
        let upload = try await driver.multipartUpload("/staging/x")
        try await upload.writePart(Array("first".utf8))
        #expect(try await collect(driver.reader("/staging/x", offset: 0)) == Array("first".utf8))
        try await upload.writePart(Array(" second".utf8))
        #expect(try await collect(driver.reader("/staging/x", offset: 5)) == Array(" second".utf8))
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
        #expect(try await driver.list("/t", after: nil, limit: 5) == ["one"])
        // Any change of the stamp is.
        try await driver.putContent("/t/three/link", [1])
        #expect(try await driver.list("/t") == ["one", "three", "two"])
        #expect(try await driver.list("/t", after: "one", limit: 1) == ["three"])
        try await driver.delete("/t/one")
        #expect(try await driver.list("/t") == ["three", "two"])
    }

    @Test func aListingOfARecentlyChangedDirectoryIsNeverReused() async throws {
        try await driver.putContent("/u/one/link", [1])
        // Stamped now rather than at creation, so that a slow machine cannot let it settle.
        var fresh = timespec()
        clock_gettime(CLOCK_REALTIME, &fresh)
        setMtime("/u", fresh)
        #expect(try await driver.list("/u") == ["one"])
        // A second change within the clock's granularity leaves the mtime unchanged.
        try await driver.putContent("/u/two/link", [1])
        setMtime("/u", fresh)
        #expect(try await driver.list("/u") == ["one", "two"])
    }
}
