import Testing

@testable import BerthAuth

@Suite struct AccessRulesTests {
    func rule(
        account: String? = nil, name: String? = nil, type: String? = nil, ip: String? = nil, _ actions: [String]
    )
        throws -> AccessRules.Rule
    {
        try AccessRules.Rule(account: account, name: name, type: type, ip: ip, actions: actions, key: "acl")
    }

    @Test func globsRegexesAndExactNames() throws {
        #expect(try NamePattern("library/*").matches("library/alpine", account: ""))
        #expect(try !NamePattern("library/*").matches("library/a/b", account: ""))
        #expect(try !NamePattern("library/*").matches("libraryx/a", account: ""))
        #expect(try NamePattern("team-?").matches("team-a", account: ""))
        #expect(try NamePattern("${account}/*").matches("alice/app", account: "alice"))
        #expect(try !NamePattern("${account}/*").matches("bob/app", account: "alice"))
        // An account with glob characters stays literal.
        #expect(try !NamePattern("${account}/*").matches("bob/app", account: "*"))
        #expect(try NamePattern("/.+/").matches("alice", account: ""))
        #expect(try !NamePattern("/.+/").matches("", account: ""))
        #expect(try !NamePattern("/admin/").matches("notadmin", account: ""))
        #expect(try NamePattern("/${account}/.*/").matches("a.b/x/y", account: "a.b"))
        #expect(try !NamePattern("/${account}/.*/").matches("axb/x/y", account: "a.b"))
        #expect(try NamePattern("").matches("", account: ""))
        #expect(try !NamePattern("").matches("alice", account: ""))
        #expect(throws: NamePattern.Invalid.self) { try NamePattern("/(/") }
    }

    @Test func firstMatchDecidesAndDeniedActionsAreLeftOut() throws {
        let rules = AccessRules([
            try rule(account: "admin", ["*"]),
            try rule(account: "", name: "library/*", ["pull"]),
            try rule(account: "/.+/", name: "${account}/*", ["pull", "push"]),
            try rule(account: "/.+/", name: "shared/*", ["pull"]),
            try rule(account: "ci", ip: "10.0.0.0/8", ["push"]),
        ])
        func granted(_ account: String, _ name: String, _ actions: [String], ip: String = "127.0.0.1") -> [String] {
            rules.granted(actions, account: account, type: "repository", name: name, address: ip)
        }
        #expect(granted("admin", "any/thing", ["pull", "push", "delete"]) == ["pull", "push", "delete"])
        #expect(granted("", "library/alpine", ["pull", "push"]) == ["pull"])
        #expect(granted("", "alice/app", ["pull"]) == [])
        #expect(granted("alice", "alice/app", ["pull", "push", "delete"]) == ["pull", "push"])
        #expect(granted("alice", "shared/x", ["pull", "push"]) == ["pull"])
        #expect(granted("alice", "bob/app", ["pull"]) == [])
        #expect(granted("ci", "other/x", ["push"], ip: "10.1.2.3") == ["push"])
        #expect(granted("ci", "other/x", ["push"], ip: "192.168.0.1") == [])
        #expect(granted("alice", "alice/app", ["*"]) == [])
        #expect(rules.granted(["*"], account: "admin", type: "registry", name: "catalog", address: "::1") == ["*"])
        // No rules: signed-in users everything, anonymous nothing.
        #expect(AccessRules(nil).granted(["pull"], account: "", type: "repository", name: "a", address: "") == [])
        #expect(
            AccessRules(nil).granted(["push"], account: "x", type: "repository", name: "a", address: "") == ["push"])
    }

    @Test func addressRanges() throws {
        #expect(AddressRange("10.0.0.0/8")!.contains("10.200.0.1"))
        #expect(!AddressRange("10.0.0.0/8")!.contains("11.0.0.1"))
        #expect(AddressRange("127.0.0.1")!.contains("127.0.0.1"))
        #expect(!AddressRange("127.0.0.1")!.contains("127.0.0.2"))
        #expect(AddressRange("fd00::/8")!.contains("fd12::1"))
        #expect(!AddressRange("fd00::/8")!.contains("10.0.0.1"))
        #expect(AddressRange("10.0.0.0/33") == nil)
        #expect(AddressRange("not-an-ip") == nil)
        #expect(throws: AccessRules.Invalid.self) { try rule(ip: "10.0.0/8", ["pull"]) }
    }
}
