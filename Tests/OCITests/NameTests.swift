import OCI
import Testing

@Suite struct NameTests {
    @Test(arguments: ["a", "library/alpine", "a.b/c_d/e__f/g-h", "x---y/z", "0/1/2/3", "ghcr.io/owner/app"])
    func acceptsValidNames(_ name: String) throws {
        #expect(try RepositoryName(name).value == name)
    }

    @Test(arguments: [
        "", "Library/alpine", "a//b", "a/", "/a", "-a", "a-", "a..b", "a___b", "a/../b", "a/.b", "a b", "a%2Fb",
        String(repeating: "a", count: 256),
    ])
    func rejectsInvalidNames(_ name: String) {
        #expect(throws: RegistryError.self) { try RepositoryName(name) }
    }

    @Test func longestNameIsAccepted() throws {
        #expect(try RepositoryName(String(repeating: "a", count: 255)).value.count == 255)
    }

    @Test func tags() throws {
        #expect(try Tag("v1.2.3-rc_1").value == "v1.2.3-rc_1")
        #expect(try Tag("_x").value == "_x")
        #expect(try Tag(String(repeating: "t", count: 128)).value.count == 128)
        for bad in ["", ".v1", "-v1", "v1/2", "v:1", String(repeating: "t", count: 129)] {
            #expect(throws: RegistryError.self) { try Tag(bad) }
        }
    }

    @Test func referenceChoosesTagOrDigest() throws {
        #expect(try Reference(parsing: "latest") == .tag(try Tag("latest")))
        let text = "sha256:" + String(repeating: "1", count: 64)
        #expect(try Reference(parsing: text) == .digest(try Digest(parsing: text)))
        #expect(throws: RegistryError.self) { try Reference(parsing: "sha256:nope") }
    }
}
