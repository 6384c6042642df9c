import OCI
import Testing

@testable import BerthCache

@Suite struct InMemoryDescriptorCacheTests {
    let name = try! RepositoryName("team/app")

    func digest(_ n: Int) -> Digest { Digest.of(Array("blob \(n)".utf8)) }

    @Test func descriptorsAndLinksAreRememberedUntilForgotten() async throws {
        let cache = InMemoryDescriptorCache()
        let blob = BlobDescriptor(digest: digest(1), size: 42, mediaType: "application/x")
        #expect(await cache.descriptor(of: blob.digest) == nil)
        await cache.remember(blob)
        #expect(await cache.descriptor(of: blob.digest) == blob)
        await cache.forgetDescriptor(of: blob.digest)
        #expect(await cache.descriptor(of: blob.digest) == nil)

        #expect(await cache.isLinked(blob.digest, as: .layer, in: name) == nil)
        await cache.rememberLink(blob.digest, as: .layer, in: name)
        #expect(await cache.isLinked(blob.digest, as: .layer, in: name) == true)
        // Links are per kind and per repository.
        #expect(await cache.isLinked(blob.digest, as: .manifest, in: name) == nil)
        #expect(await cache.isLinked(blob.digest, as: .layer, in: try RepositoryName("other")) == nil)
        await cache.forgetLink(blob.digest, as: .layer, in: name)
        #expect(await cache.isLinked(blob.digest, as: .layer, in: name) == nil)
    }

    @Test func tagsAreNotKeptInOneProcess() async throws {
        let cache = InMemoryDescriptorCache()
        await cache.rememberTag(try Tag("latest"), in: name, as: digest(1), replacing: true)
        #expect(await cache.digest(of: try Tag("latest"), in: name) == nil)
    }

    @Test func theCacheStaysBoundedAndKeepsWhatIsRead() async throws {
        let cache = InMemoryDescriptorCache(capacity: 100)
        await cache.remember(BlobDescriptor(digest: digest(0), size: 0))
        for n in 1...1_000 {
            await cache.remember(BlobDescriptor(digest: digest(n), size: Int64(n)))
            // Entry 0 is read all the time, so it is never the one dropped.
            #expect(await cache.descriptor(of: digest(0))?.size == 0)
        }
        var kept = 0
        for n in 1...1_000 where await cache.descriptor(of: digest(n)) != nil { kept += 1 }
        #expect(kept <= 100)
        #expect(await cache.descriptor(of: digest(1_000))?.size == 1_000)
    }

    @Test func generationsDropTheUnreadFirst() {
        var map = Generations<Int, Int>(capacity: 4)
        map.set(1, 1)
        map.set(2, 2)
        map.set(3, 3)  // 1 and 2 move to the old generation
        #expect(map.get(1) == 1)  // read: back to the young one
        map.set(4, 4)  // the young generation (3, 1) is full: it becomes the old one, 2 is dropped
        #expect(map.get(2) == nil)
        #expect(map.get(1) == 1 && map.get(3) == 3 && map.get(4) == 4)
        #expect(map.count <= 4)
    }
}
