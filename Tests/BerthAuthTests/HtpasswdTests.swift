import Foundation
import Testing

@testable import BerthAuth

@Suite struct HtpasswdTests {
    // htpasswd -Bbn alice secret
    let alice = "alice:$2y$05$fPhSjznC5IPam0iqvyVJTeZn.fG/G3P2iEIeELugEhB4ecOOI9KV."

    @Test func bcryptEntriesVerify() throws {
        let file = try Htpasswd(contents: "# users\n\(alice)\n\n", source: "test")
        #expect(file.verify(user: "alice", password: "secret"))
        #expect(!file.verify(user: "alice", password: "Secret"))
        #expect(!file.verify(user: "alice", password: ""))
        #expect(!file.verify(user: "bob", password: "secret"))
    }

    @Test func nonBcryptEntriesAreRefused() {
        #expect(throws: Htpasswd.Invalid.self) {
            try Htpasswd(contents: "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", source: "t")
        }
        #expect(throws: Htpasswd.Invalid.self) { try Htpasswd(contents: "carol:$apr1$abc$def", source: "t") }
        #expect(throws: Htpasswd.Invalid.self) { try Htpasswd(contents: "no colon here", source: "t") }
        do {
            _ = try Htpasswd(contents: "\(alice)\ndave:plain", source: "/etc/htpasswd")
        } catch {
            #expect(
                error.description == "/etc/htpasswd line 2 (user dave) is not a bcrypt hash; create it with htpasswd -B"
            )
        }
    }

    @Test func basicCredentials() {
        let header = "Basic " + Data("alice:se:cret".utf8).base64EncodedString()
        #expect(PasswordChecker.basicCredentials(header)! == ("alice", "se:cret"))
        #expect(PasswordChecker.basicCredentials("Bearer abc") == nil)
        #expect(PasswordChecker.basicCredentials("Basic !!!") == nil)
        #expect(PasswordChecker.basicCredentials(nil) == nil)
    }

    @Test func failedLoginsAreSlowedDown() {
        #expect(PasswordChecker.delay(after: 4) == 0)
        #expect(PasswordChecker.delay(after: 5) == 0.25)
        #expect(PasswordChecker.delay(after: 7) == 1)
        #expect(PasswordChecker.delay(after: 40) == PasswordChecker.longestDelay)
    }

    @Test func constantTimeComparison() {
        #expect(Htpasswd.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!Htpasswd.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!Htpasswd.constantTimeEqual(Array("abc".utf8), Array("ab".utf8)))
    }
}
