import BerthConfig
import Foundation
import OCI
import Testing

@testable import BerthUpstream

@Suite struct AuthChallengeTests {
    @Test func parsesTheTokenFlowChallenge() throws {
        let header =
            #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#
        let challenge = try #require(AuthChallenge(header))
        #expect(challenge.scheme == .bearer)
        #expect(challenge.realm == "https://auth.docker.io/token")
        #expect(challenge.service == "registry.docker.io")
        #expect(challenge.scope == "repository:library/alpine:pull")
    }

    @Test func parsesBasicAndEscapes() throws {
        #expect(AuthChallenge(#"Basic realm="Registry Realm""#)?.scheme == .basic)
        #expect(AuthChallenge(#"basic realm="a \"quoted\" realm""#)?.realm == #"a "quoted" realm"#)
        #expect(AuthChallenge("Bearer realm=https://x/token, service=reg")?.service == "reg")
    }

    @Test func refusesWhatIsNotAChallenge() {
        #expect(AuthChallenge("Negotiate abc") == nil)
        #expect(AuthChallenge(#"Bearer realm="unterminated"#) == nil)
        #expect(AuthChallenge("") == nil)
    }

    @Test func credentialsStayOnTheUpstreamsSite() {
        #expect(UpstreamClient.sameSite("auth.docker.io", "registry-1.docker.io"))
        #expect(UpstreamClient.sameSite("127.0.0.1", "127.0.0.1"))
        #expect(!UpstreamClient.sameSite("evil.example", "registry-1.docker.io"))
        #expect(!UpstreamClient.sameSite("127.0.0.2", "127.0.0.1"))
        #expect(!UpstreamClient.sameSite("docker.io.evil.example", "registry-1.docker.io"))
    }
}

@Suite struct RoutingTests {
    func route(
        _ upstream: Configuration.Upstream, local: [String] = [], prefixes: Set<String> = ["docker.io", "ghcr.io"]
    )
        -> UpstreamRoute
    {
        UpstreamRoute(upstream: upstream, local: local.map(RepositoryPattern.init), allPrefixes: prefixes)
    }

    var hub: Configuration.Upstream {
        var u = Configuration.Upstream(name: "hub", url: "https://registry-1.docker.io")
        u.prefixes = ["docker.io"]
        return u
    }

    @Test func prefixNsAndDefault() throws {
        var hub = self.hub
        let r = route(hub)
        #expect(r.upstreamName(try RepositoryName("docker.io/library/alpine"), ns: nil) == "library/alpine")
        #expect(r.upstreamName(try RepositoryName("docker.io/alpine"), ns: nil) == "library/alpine")
        #expect(r.upstreamName(try RepositoryName("library/alpine"), ns: "docker.io") == "library/alpine")
        #expect(r.upstreamName(try RepositoryName("library/alpine"), ns: "registry-1.docker.io") == "library/alpine")
        // Not the default upstream: un-prefixed names, and other ns, are not its.
        #expect(r.upstreamName(try RepositoryName("library/alpine"), ns: nil) == nil)
        #expect(r.upstreamName(try RepositoryName("library/alpine"), ns: "evil.example") == nil)
        hub.isDefault = true
        let d = route(hub, local: ["team/**"])
        #expect(d.upstreamName(try RepositoryName("alpine"), ns: nil) == "library/alpine")
        #expect(d.upstreamName(try RepositoryName("team/app"), ns: nil) == nil)
        #expect(d.upstreamName(try RepositoryName("ghcr.io/owner/app"), ns: nil) == nil)
        #expect(try d.cacheName("library/alpine").value == "docker.io/library/alpine")
    }

    @Test func patterns() {
        #expect(RepositoryPattern(text: "library/*").matches("library/alpine"))
        #expect(!RepositoryPattern(text: "library/*").matches("library/a/b"))
        #expect(RepositoryPattern(text: "team/**").matches("team/a/b"))
        #expect(RepositoryPattern(text: "*/app").matches("x/app"))
        #expect(!RepositoryPattern(text: "team").matches("team2"))
        var hub = self.hub
        hub.allow = ["library/*", "mjpitz/**"]
        hub.deny = ["library/bad*"]
        let r = route(hub)
        #expect(r.permits("library/alpine") && r.permits("mjpitz/a/b"))
        #expect(!r.permits("library/badimage") && !r.permits("other/app"))
    }
}

@Suite struct UpstreamHealthTests {
    func health(after failures: Int = 3, for period: Duration = .seconds(30)) -> UpstreamHealth {
        var upstream = Configuration.Upstream(name: "up", url: "http://127.0.0.1:1")
        upstream.offlineAfter = failures
        upstream.offlineFor = period
        return UpstreamHealth(upstream: upstream, counters: UpstreamCounters())
    }

    @Test func offlineAfterFailuresInARow() throws {
        let h = health()
        h.failed()
        h.failed()
        try h.check()
        h.succeeded()  // an answer starts the count over
        h.failed()
        h.failed()
        try h.check()
        h.failed()
        #expect(throws: RegistryError.self) { try h.check() }
    }

    @Test func retryAfterTakesItOfflineAtOnceForAsLongAsAsked() throws {
        let h = health(for: .seconds(3600))
        h.failed(retryAfter: .zero)
        try h.check()  // zero seconds: already over
        h.failed(retryAfter: .seconds(60))
        #expect(throws: RegistryError.self) { try h.check() }
    }

    @Test func theOfflinePeriodEnds() async throws {
        let h = health(after: 1, for: .milliseconds(50))
        h.failed()
        #expect(throws: RegistryError.self) { try h.check() }
        try await Task.sleep(for: .milliseconds(80))
        try h.check()
    }

    @Test func parsesRetryAfter() {
        #expect(UpstreamHealth.retryAfter("120") == .seconds(120))
        let now = Date(timeIntervalSince1970: 1_445_412_480)  // Wed, 21 Oct 2015 07:28:00 GMT
        #expect(UpstreamHealth.retryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now: now) == .seconds(30))
        #expect(UpstreamHealth.retryAfter("soon") == nil)
        #expect(UpstreamHealth.retryAfter(nil) == nil)
    }
}
