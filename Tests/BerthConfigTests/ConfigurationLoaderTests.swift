import Foundation
import Testing

@testable import BerthConfig

@Suite struct ConfigurationLoaderTests {
    func load(_ yaml: String?, env: [String: String] = [:]) throws -> ConfigurationLoader.Loaded {
        guard let yaml else { return try ConfigurationLoader.load(path: nil, environment: env) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("berth-\(UUID().uuidString).yml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ConfigurationLoader.load(path: path, environment: env)
    }

    func error(_ yaml: String, env: [String: String] = [:]) -> ConfigError? {
        do {
            _ = try load(yaml, env: env)
            return nil
        } catch {
            return error as? ConfigError
        }
    }

    /// registry:2's own example configuration loads as it is.
    @Test func registry2DefaultConfig() throws {
        let loaded = try load(
            """
            version: 0.1
            log:
              fields:
                service: registry
            storage:
              cache:
                blobdescriptor: inmemory
              filesystem:
                rootdirectory: /var/lib/registry
            http:
              addr: :5000
              headers:
                X-Content-Type-Options: [nosniff]
            health:
              storagedriver:
                enabled: true
                interval: 10s
                threshold: 3
            """)
        let c = loaded.configuration
        #expect(c.storage.rootDirectory == "/var/lib/registry")
        #expect(c.storage.blobDescriptorCache == .inMemory(size: 10_000))
        #expect(c.http.host == "0.0.0.0" && c.http.port == 5000)
        #expect(c.http.headers.map { "\($0.0)=\($0.1)" } == ["X-Content-Type-Options=nosniff"])
        #expect(c.log.fields.map(\.0) == ["service"])
        #expect(loaded.warnings.isEmpty)
    }

    @Test func embeddedDefault() throws {
        let loaded = try load(nil)
        #expect(loaded.configuration.storage.rootDirectory == ConfigurationLoader.defaultRootDirectory)
        #expect(loaded.configuration.http.port == 5000)
        #expect(loaded.source == "embedded default")
        #expect(loaded.configuration.storage.blobDescriptorCache == .inMemory(size: 10_000))
    }

    @Test func blobDescriptorCache() throws {
        let root = "storage:\n  filesystem:\n    rootdirectory: /a\n"
        // As in registry:2: no cache section, no cache.
        #expect(try load(root).configuration.storage.blobDescriptorCache == .none)
        let sized = try load(root + "  cache:\n    blobdescriptor: inmemory\n    blobdescriptorsize: 500\n")
        #expect(sized.configuration.storage.blobDescriptorCache == .inMemory(size: 500))
        let fromEnvironment = try load(root, env: ["REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR": "inmemory"])
        #expect(fromEnvironment.configuration.storage.blobDescriptorCache == .inMemory(size: 10_000))
        #expect(error(root + "  cache:\n    blobdescriptor: memcached\n")?.key == "storage.cache.blobdescriptor")
        #expect(error(root + "  cache:\n    blobdescriptorsize: 0\n")?.key == "storage.cache.blobdescriptorsize")
        #expect(error(root + "  cache:\n    blobdescriptor: redis\n")?.key == "redis.addr")
    }

    /// registry:2's `redis:` keys, as the Helm chart writes them.
    @Test func redisCache() throws {
        let root = "storage:\n  filesystem:\n    rootdirectory: /a\n  cache:\n    blobdescriptor: redis\n"
        let c = try load(
            root + """
                redis:
                  addr: redis-master:6380
                  password: pw
                  db: 2
                  dialtimeout: 10ms
                  readtimeout: 0
                  writetimeout: 20ms
                  pool:
                    maxidle: 4
                    maxactive: 6
                    idletimeout: 60s
                  tls:
                    enabled: true
                """
        ).configuration
        guard case .redis(let redis) = c.storage.blobDescriptorCache else {
            Issue.record("not redis")
            return
        }
        #expect(redis.host == "redis-master" && redis.port == 6380 && redis.password == "pw" && redis.db == 2)
        #expect(redis.dialTimeout == .milliseconds(10) && redis.readTimeout == .seconds(1))
        #expect(redis.writeTimeout == .milliseconds(20) && redis.maxIdle == 4 && redis.maxActive == 6)
        #expect(redis.idleTimeout == .seconds(60) && redis.tls)
        #expect(error(root + "redis:\n  addr: nonsense\n")?.key == "redis.addr")
        // A redis section the cache does not use is said, not refused.
        let unused = try load("storage:\n  filesystem:\n    rootdirectory: /a\nredis:\n  addr: r:6379\n")
        #expect(unused.warnings.contains { $0.contains("redis is not used") })
    }

    @Test func environmentOverridesFile() throws {
        let c = try load(
            "storage:\n  filesystem:\n    rootdirectory: /a\nhttp:\n  addr: :5000\n",
            env: [
                "REGISTRY_HTTP_ADDR": "127.0.0.1:7000", "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/b",
                "REGISTRY_STORAGE_DELETE_ENABLED": "true", "REGISTRY_LOG_LEVEL": "debug",
                "REGISTRY_HTTP_HEADERS": "{X-A: [b]}", "UNRELATED": "x",
            ]
        ).configuration
        #expect(c.http.host == "127.0.0.1" && c.http.port == 7000)
        #expect(c.storage.rootDirectory == "/b")
        #expect(c.storage.deleteEnabled)
        #expect(c.log.level == .debug)
        #expect(c.http.headers.first?.0 == "X-A")
    }

    /// Responses are sent without validating their headers again, so configured ones are
    /// checked here: no line break can split a response.
    @Test func headersThatWouldSplitAResponseAreRefused() {
        let storage = "storage:\n  filesystem:\n    rootdirectory: /a\n"
        #expect(error(storage + "http:\n  headers:\n    X-A: [\"a\\r\\nSet-Cookie: b\"]\n")?.key == "http.headers.x-a")
        #expect(error(storage + "http:\n  headers:\n    \"X A\": [b]\n")?.key == "http.headers.x a")
    }

    /// registry:2's image ships a filesystem config.yml; `REGISTRY_STORAGE=s3` and its
    /// variables switch it to S3, keeping the storage settings that are not a driver.
    @Test func environmentSelectsStorageDriver() throws {
        let file = "storage:\n  filesystem:\n    rootdirectory: /a\n  delete:\n    enabled: true\n"
        #expect(error(file, env: ["REGISTRY_STORAGE": "s3"])?.key == "storage.s3.bucket")
        let c = try load(
            file,
            env: [
                "REGISTRY_STORAGE": "s3", "REGISTRY_STORAGE_S3_BUCKET": "images",
                "REGISTRY_STORAGE_S3_REGION": "eu-west-1",
                "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token",
            ]
        ).configuration
        guard case .s3(let s3) = c.storage.driver else {
            Issue.record("not s3: \(c.storage.driver)")
            return
        }
        #expect(s3.bucket == "images" && s3.region == "eu-west-1")
        #expect(s3.accessKey == "AKID" && s3.secretKey == "secret" && s3.sessionToken == "token")
        #expect(c.storage.deleteEnabled)
    }

    @Test func s3KeysAsRegistry2Has() throws {
        let c = try load(
            """
            storage:
              s3:
                accesskey: AK
                secretkey: SK
                region: us-east-1
                regionendpoint: http://minio:9000
                forcepathstyle: true
                bucket: registry
                encrypt: true
                keyid: my-key
                secure: false
                skipverify: true
                v4auth: true
                chunksize: 5242880
                multipartcopychunksize: 33554432
                multipartcopymaxconcurrency: 10
                multipartcopythresholdsize: 0
                rootdirectory: /registry
                storageclass: NONE
                useragent: me
              redirect:
                disable: true
            """
        ).configuration
        guard case .s3(let s3) = c.storage.driver else {
            Issue.record("not s3")
            return
        }
        #expect(s3.regionEndpoint == "http://minio:9000" && s3.forcePathStyle && !s3.secure && s3.skipVerify)
        #expect(s3.encrypt && s3.keyID == "my-key" && s3.storageClass == nil)
        #expect(s3.chunkSize == 5 << 20 && s3.multipartCopyChunkSize == 32 << 20)
        #expect(s3.multipartCopyMaxConcurrency == 10 && s3.multipartCopyThresholdSize == 0)
        #expect(s3.rootDirectory == "/registry" && c.storage.redirectDisabled)
        #expect(c.storage.rootDirectory == nil)
        let base = "storage:\n  s3:\n    bucket: b\n    region: r\n    accesskey: a\n    secretkey: s\n"
        #expect(error(base + "    chunksize: 1000\n")?.key == "storage.s3.chunksize")
        #expect(error(base + "    storageclass: COLD\n")?.key == "storage.s3.storageclass")
        #expect(error(base + "    v4auth: false\n")?.key == "storage.s3.v4auth")
        #expect(error("storage:\n  s3:\n    bucket: b\n    region: r\n")?.key == "storage.s3.accesskey")
        #expect(error(base + "  filesystem:\n    rootdirectory: /a\n")?.key == "storage")
    }

    @Test func garbageCollectionGracePeriod() throws {
        let base = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /tmp/x\n"
        #expect(try load(base).configuration.storage.garbageCollectGracePeriod == .seconds(3600))
        let set = try load(base + "  maintenance:\n    garbagecollect:\n      graceperiod: 10m\n")
        #expect(set.configuration.storage.garbageCollectGracePeriod == .seconds(600))
        #expect(set.warnings.isEmpty)
        let env = try load(base, env: ["REGISTRY_STORAGE_MAINTENANCE_GARBAGECOLLECT_GRACEPERIOD": "0s"])
        #expect(env.configuration.storage.garbageCollectGracePeriod == .zero)
        #expect(error(base + "  maintenance:\n    garbagecollect:\n      graceperiod: soon\n") != nil)
    }

    @Test func notificationEndpointsAsRegistry2HasThem() throws {
        let loaded = try load(
            """
            storage:
              filesystem:
                rootdirectory: /a
            notifications:
              events:
                includereferences: true
              endpoints:
                - name: scanner
                  url: https://scanner.example.com/events
                  headers:
                    Authorization: [Bearer token]
                  timeout: 500ms
                  threshold: 5
                  backoff: 1s
                  ignoredmediatypes: [application/octet-stream]
                  ignore:
                    mediatypes: [application/vnd.oci.image.config.v1+json]
                    actions: [pull]
                  queuesize: 100
                - name: old
                  url: http://old.example.com/
                  disabled: true
            """)
        #expect(loaded.warnings.isEmpty)
        let endpoints = loaded.configuration.notifications.endpoints
        #expect(endpoints.count == 1)
        let scanner = try #require(endpoints.first)
        #expect(scanner.name == "scanner" && scanner.url == "https://scanner.example.com/events")
        #expect(scanner.headers.map { "\($0.0): \($0.1)" } == ["Authorization: Bearer token"])
        #expect(scanner.timeout == .milliseconds(500) && scanner.threshold == 5 && scanner.backoff == .seconds(1))
        #expect(
            scanner.ignoredMediaTypes == ["application/octet-stream", "application/vnd.oci.image.config.v1+json"])
        #expect(scanner.ignoredActions == ["pull"] && scanner.queueSize == 100)
        let root = "storage:\n  filesystem:\n    rootdirectory: /a\nnotifications:\n  endpoints:\n"
        #expect(error(root + "    - name: x\n      url: ftp://x\n")?.key == "notifications.endpoints[0].url")
        #expect(error(root + "    - url: http://x\n")?.key == "notifications.endpoints[0].name")
        #expect(
            error(root + "    - name: x\n      url: http://x\n      ignore:\n        actions: [fetch]\n")?.key
                == "notifications.endpoints[0].ignore.actions")
    }

    @Test func unknownKeysAreWarnings() throws {
        let loaded = try load("storage:\n  filesystem:\n    rootdirectory: /a\n    colour: red\nfoo: 1\n")
        #expect(
            Set(loaded.warnings.map { $0.components(separatedBy: " ")[3] }) == ["storage.filesystem.colour", "foo"])
    }

    @Test func unservedFeaturesAreWarnedAbout() throws {
        let loaded = try load(
            "storage:\n  filesystem:\n    rootdirectory: /a\nhttp:\n  debug:\n    addr: :5001\n    prometheus:\n      enabled: true\n"
        )
        #expect(loaded.warnings == [])
        #expect(loaded.configuration.http.debug?.host == "0.0.0.0" && loaded.configuration.http.debug?.port == 5001)
        #expect(loaded.configuration.http.prometheusPath == "/metrics")
        #expect(error(root: "http:\n  debug:\n    addr: nope\n")?.key == "http.debug.addr")
        #expect(error(root: "http:\n  debug:\n    prometheus:\n      enabled: true\n")?.key == "http.debug.addr")
        let off = try load(
            "storage:\n  filesystem:\n    rootdirectory: /a\nhttp:\n  debug:\n    prometheus:\n      enabled: false\n")
        #expect(off.warnings.isEmpty && off.configuration.http.prometheusPath == nil)
    }

    func error(root extra: String) -> ConfigError? {
        error("storage:\n  filesystem:\n    rootdirectory: /a\n" + extra)
    }

    @Test func invalidValuesNameTheirKey() {
        let root = "storage:\n  filesystem:\n    rootdirectory: /a\n"
        #expect(error(root + "http:\n  addr: nope\n")?.key == "http.addr")
        #expect(error(root + "http:\n  draintimeout: soon\n")?.key == "http.draintimeout")
        #expect(error(root + "http:\n  prefix: nope\n")?.key == "http.prefix")
        #expect(error(root + "http:\n  host: registry.example.com\n")?.key == "http.host")
        #expect(error(root + "http:\n  tls:\n    certificate: /c\n")?.key == "http.tls.key")
        #expect(error(root + "log:\n  formatter: xml\n")?.key == "log.formatter")
        #expect(
            error(root + "validation:\n  manifests:\n    urls:\n      allow: ['(']\n")?.key
                == "validation.manifests.urls.allow")
        #expect(error("storage:\n  delete:\n    enabled: true\n")?.key == "storage")
    }

    @Test func tokenAuthWithTheBuiltInServer() throws {
        let yaml = """
            storage:
              filesystem:
                rootdirectory: /a
            auth:
              token:
                realm: https://registry.example.com/auth/token
                service: registry.example.com
                issuer: berth
                server:
                  key: /certs/token.key
                  certificate: /certs/token.crt
                  kid: thumbprint
                  expiration: 15m
                  users:
                    admin: $2y$05$abcdefghijklmnopqrstuu
                  acl:
                    - match: {account: admin}
                      actions: ["*"]
                    - match: {account: "", name: "library/*", ip: 10.0.0.0/8}
                      actions: [pull]
                      comment: anonymous pulls of library images from inside
            """
        let token = try #require(try load(yaml).configuration.auth.token)
        #expect(token.rootCertBundle == nil)
        let server = try #require(token.server)
        #expect(server.keyID == .thumbprint)
        #expect(server.expiration == .seconds(900))
        #expect(server.users["admin"] == "$2y$05$abcdefghijklmnopqrstuu")
        #expect(
            server.acl == [
                .init(account: "admin", actions: ["*"]),
                .init(account: "", name: "library/*", ip: "10.0.0.0/8", actions: ["pull"]),
            ])
        #expect(ConfigurationLoader.tokenPath(token.realm) == "/auth/token")
        #expect(ConfigurationLoader.tokenPath("https://h") == nil)
        #expect(ConfigurationLoader.tokenPath("http://h:5000/t?x=1") == "/t")
        let root = "storage:\n  filesystem:\n    rootdirectory: /a\nauth:\n  token:\n    realm: http://h/t\n"
        let server2 = root + "    service: s\n    issuer: i\n    server:\n      key: /k\n      certificate: /c\n"
        #expect(error(root + "    service: s\n")?.key == "auth.token.issuer")
        #expect(error(server2 + "      kid: sha1\n")?.key == "auth.token.server.kid")
        #expect(error(server2 + "      acl:\n        - actions: [fly]\n")?.key == "auth.token.server.acl[0].actions")
        #expect(error(server2 + "      expiration: 1s\n")?.key == "auth.token.server.expiration")
    }

    @Test func laterSectionsAreRefusedNotIgnored() {
        let root = "storage:\n  filesystem:\n    rootdirectory: /a\n"
        for section in [
            "auth:\n  token:\n    realm: x\n", "auth:\n  silly:\n    realm: x\n", "middleware:\n  registry: []\n",
        ] {
            #expect(error(root + section) != nil, "\(section)")
        }
        #expect(error("storage:\n  azure:\n    accountname: b\n")?.key == "storage.azure")

    }

    @Test func durations() throws {
        let c = try load(
            "storage:\n  filesystem:\n    rootdirectory: /a\nhttp:\n  draintimeout: 1m30s\n  idletimeout: 250ms\n")
        #expect(c.configuration.http.drainTimeout == .seconds(90))
        #expect(c.configuration.http.idleTimeout == .milliseconds(250))
    }

    @Test func addresses() throws {
        let root = "storage:\n  filesystem:\n    rootdirectory: /a\nhttp:\n  addr: "
        #expect(try load(root + "'[::1]:5001'\n").configuration.http.host == "::1")
        #expect(try load(root + "localhost:0\n").configuration.http.port == 0)
    }
}

@Suite struct MirrorConfigurationTests {
    func load(_ text: String, environment: [String: String] = [:]) throws -> Configuration {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("berth-\(UUID().uuidString).yml").path
        try ("storage:\n  filesystem:\n    rootdirectory: /tmp/x\n" + text).write(
            toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ConfigurationLoader.load(path: path, environment: environment).configuration
    }

    func errorKey(_ text: String) -> String? {
        do {
            _ = try load(text)
            return nil
        } catch let error as ConfigError {
            return error.key
        } catch {
            return "\(error)"
        }
    }

    @Test func expiryCapsAndTheOfflinePeriod() throws {
        let c = try load(
            """
            mirror:
              expiry:
                interval: 30s
                inuse: 2m
              upstreams:
                hub:
                  url: https://registry-1.docker.io
                  prefixes: [docker.io]
                  ttl: 24h
                  maxsize: 20GiB
                  offlineafter: 5
                  offlinefor: 1m
            """)
        let hub = try #require(c.mirror.upstreams.first)
        #expect(hub.ttl == .seconds(86400) && hub.maxSize == 20 * 1_073_741_824)
        #expect(hub.offlineAfter == 5 && hub.offlineFor == .seconds(60))
        #expect(c.mirror.sweepInterval == .seconds(30) && c.mirror.inUse == .seconds(120))
        let defaults = try load("proxy:\n  remoteurl: https://registry-1.docker.io\n  ttl: 0s\n")
        #expect(defaults.mirror.upstreams.first?.ttl == .zero)  // registry:2's 0: no expiry by age
        #expect(defaults.mirror.upstreams.first?.maxSize == nil)
    }

    @Test func byteSizes() {
        #expect(ConfigReader.parseByteSize("1073741824") == 1_073_741_824)
        #expect(ConfigReader.parseByteSize("500MB") == 500_000_000)
        #expect(ConfigReader.parseByteSize("1.5 GiB") == 1_610_612_736)
        #expect(ConfigReader.parseByteSize("12 parsecs") == nil)
    }

    @Test func badExpiryValuesNameTheirKey() {
        let hub = "mirror:\n  upstreams:\n    hub:\n      url: https://r.example\n      prefixes: [r.example]\n"
        #expect(errorKey(hub + "      maxsize: lots\n") == "mirror.upstreams.hub.maxsize")
        #expect(errorKey(hub + "      offlineafter: 0\n") == "mirror.upstreams.hub.offlineafter")
        #expect(errorKey(hub + "      offlinefor: soon\n") == "mirror.upstreams.hub.offlinefor")
        #expect(errorKey(hub + "  expiry:\n    interval: 0s\n") == "mirror.expiry.interval")
        #expect(
            errorKey("mirror:\n  upstreams:\n    \"a/b\":\n      url: https://r.example\n      default: true\n")
                == "mirror.upstreams.a/b")
    }

    @Test func registry2ProxyBlockIsTheDefaultUpstream() throws {
        let c = try load(
            "proxy:\n  remoteurl: https://registry-1.docker.io/\n  username: u\n  password: p\n  ttl: 24h\n")
        let upstream = try #require(c.mirror.upstreams.first)
        #expect(upstream.isDefault && upstream.url == "https://registry-1.docker.io")
        #expect(upstream.username == "u" && upstream.password == "p" && upstream.ttl == .seconds(86400))
        #expect(upstream.host == "registry-1.docker.io")
    }

    @Test func upstreamsByName() throws {
        let c = try load(
            """
            mirror:
              local: ["team/**"]
              upstreams:
                hub:
                  url: https://registry-1.docker.io
                  prefixes: [docker.io]
                  default: true
                  allow: ["library/*"]
                ghcr:
                  url: https://ghcr.io
                  prefixes: [ghcr.io]
                  username: bot
                  passwordenv: GHCR_TOKEN
                  concurrency: 4
                  freshness: 5m
            """, environment: ["GHCR_TOKEN": "t0ken"])
        #expect(c.mirror.upstreams.map(\.name) == ["hub", "ghcr"])
        #expect(c.mirror.local == ["team/**"])
        let ghcr = c.mirror.upstreams[1]
        #expect(ghcr.password == "t0ken" && ghcr.concurrency == 4 && ghcr.freshness == .seconds(300))
        #expect(c.mirror.upstreams[0].allow == ["library/*"])
    }

    @Test func badValuesNameTheKey() {
        #expect(errorKey("proxy:\n  username: u\n") == "proxy.remoteurl")
        #expect(errorKey("proxy:\n  remoteurl: ftp://x\n") == "proxy.remoteurl")
        #expect(errorKey("mirror:\n  upstreams:\n    a:\n      prefixes: [a.io]\n") == "mirror.upstreams.a.url")
        #expect(
            errorKey("mirror:\n  upstreams:\n    a:\n      url: https://a.io/v2\n      prefixes: [a.io]\n")
                == "mirror.upstreams.a.url")
        #expect(errorKey("mirror:\n  upstreams:\n    a:\n      url: https://a.io\n") == "mirror.upstreams.a.prefixes")
        #expect(
            errorKey("mirror:\n  upstreams:\n    a:\n      url: https://a.io\n      prefixes: [a/b]\n")
                == "mirror.upstreams.a.prefixes")
        #expect(
            errorKey(
                "mirror:\n  upstreams:\n    a:\n      url: https://a.io\n      prefixes: [x]\n      concurrency: 0\n")
                == "mirror.upstreams.a.concurrency")
        #expect(
            errorKey(
                "mirror:\n  upstreams:\n    a:\n      url: https://a.io\n      prefixes: [x]\n      passwordenv: NOPE\n      username: u\n"
            ) == "mirror.upstreams.a.passwordenv")
        #expect(
            errorKey(
                "mirror:\n  upstreams:\n    a:\n      url: https://a.io\n      prefixes: [x]\n    b:\n      url: https://b.io\n      prefixes: [x]\n"
            ) == "mirror.upstreams.b.prefixes")
        #expect(
            errorKey(
                "proxy:\n  remoteurl: https://a.io\nmirror:\n  upstreams:\n    b:\n      url: https://b.io\n      default: true\n"
            ) == "mirror.upstreams")
    }
}
