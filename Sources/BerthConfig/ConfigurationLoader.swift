internal import Foundation

/// Reads `config.yml` (or the embedded default), applies `REGISTRY_*` overrides, checks every
/// value and types the result. Problems with a value are a `ConfigError` naming the key;
/// unknown keys are returned as warnings.
public enum ConfigurationLoader {
    public struct Loaded: Sendable {
        public var configuration: Configuration
        public var warnings: [String]
        /// Where the configuration came from, for the start-up message.
        public var source: String
    }

    /// The embedded default: serve on :5000 from a folder in the working directory.
    public static let defaultRootDirectory = "./berth-data"

    public static func load(path: String?, environment: [String: String]) throws -> Loaded {
        var tree: ConfigValue
        let source: String
        if let path {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigError(key: "", message: "cannot read configuration file \(path)")
            }
            tree = try ConfigValue.parse(yaml: String(decoding: data, as: UTF8.self))
            source = path
        } else {
            tree = .map([])
            source = "embedded default"
        }
        try tree.applyEnvironment(environment)
        if path == nil && tree["storage"] == nil {
            tree.set(["storage", "filesystem", "rootdirectory"], to: .scalar(defaultRootDirectory))
            // As in the config.yml registry:2's image ships with.
            tree.set(["storage", "cache", "blobdescriptor"], to: .scalar("inmemory"))
        }
        return try decode(tree, source: source, environment: environment)
    }

    static func decode(_ tree: ConfigValue, source: String, environment: [String: String]) throws -> Loaded {
        let reader = ConfigReader(tree)
        var warnings: [String] = []
        try refuseUnsupported(reader)

        if let version = try reader.string("version"), version != "0.1" {
            throw ConfigError(
                key: "version", message: "must be 0.1 (registry:2's configuration version), not \(version)")
        }

        var config: Configuration
        if reader.has("storage.s3") {
            if reader.has("storage.filesystem") {
                throw ConfigError(
                    key: "storage", message: "configure one storage driver, not both filesystem and s3")
            }
            config = Configuration(
                storage: .s3(try decodeS3(reader, environment: environment, warnings: &warnings)))
        } else {
            guard let root = try reader.string("storage.filesystem.rootdirectory"), !root.isEmpty else {
                throw ConfigError(
                    key: "storage",
                    message: "no storage driver configured: set storage.filesystem.rootdirectory or storage.s3")
            }
            config = Configuration(rootDirectory: root)
            _ = reader.value("storage.filesystem.maxthreads")
        }
        config.storage.deleteEnabled = try reader.bool("storage.delete.enabled") ?? false
        config.storage.redirectDisabled = try reader.bool("storage.redirect.disable") ?? false
        config.storage.readOnly = try reader.bool("storage.maintenance.readonly.enabled") ?? false
        if let enabled = try reader.bool("storage.maintenance.uploadpurging.enabled") {
            config.storage.uploadPurging.enabled = enabled
        }
        config.storage.uploadPurging.age =
            try reader.duration("storage.maintenance.uploadpurging.age") ?? config.storage.uploadPurging.age
        config.storage.uploadPurging.interval =
            try reader.duration("storage.maintenance.uploadpurging.interval") ?? config.storage.uploadPurging.interval
        config.storage.uploadPurging.dryRun = try reader.bool("storage.maintenance.uploadpurging.dryrun") ?? false
        config.storage.garbageCollectGracePeriod =
            try reader.duration("storage.maintenance.garbagecollect.graceperiod")
            ?? config.storage.garbageCollectGracePeriod
        config.storage.blobDescriptorCache = try decodeBlobDescriptorCache(reader)
        config.storage.localBlobs = try decodeLocalBlobs(reader)
        if config.storage.localBlobs != nil, config.storage.rootDirectory != nil {
            config.storage.localBlobs = nil
            warnings.append(
                "storage.cache.localblobs is not used: the filesystem driver serves blobs from local files already")
        }
        if reader.has("redis"), case .redis = config.storage.blobDescriptorCache {
        } else if reader.has("redis") {
            _ = try? decodeRedis(reader)
            warnings.append("redis is not used: storage.cache.blobdescriptor is not redis")
        }

        try decodeLog(reader, &config)
        try decodeHTTP(reader, &config)
        // registry:2 features that change no client-visible behaviour: accepted, but said.
        let notServed = [
            ("http.http2", "HTTP/2 is not served yet; clients use HTTP/1.1"),
            ("log.hooks", "log hooks (mail) are not supported"),
        ]
        for (key, message) in notServed where reader.has(key) {
            warnings.append("\(key) is ignored: \(message)")
        }
        config.catalogMaxEntries = try reader.int("catalog.maxentries", range: 1...100_000) ?? 1000
        _ = reader.value("health")  // storage health is checked on each /debug/health request
        try decodeValidation(reader, &config)
        try decodeMirror(reader, environment, &config)
        try decodeAuth(reader, &config)
        config.notifications = try decodeNotifications(reader, &warnings)

        for key in reader.unread() {
            warnings.append("unknown configuration key \(key) is ignored")
        }
        return Loaded(configuration: config, warnings: warnings, source: source)
    }

    /// Sections registry:2 has that Berth does not serve yet. Running without them would
    /// quietly change behaviour (no auth, no mirroring), so Berth refuses to start.
    static func refuseUnsupported(_ reader: ConfigReader) throws {
        let unsupported: [(String, String)] = [
            ("middleware", "storage and registry middleware are not supported yet"),
            (
                "http.tls.letsencrypt",
                "Let's Encrypt certificates are not supported yet; give http.tls.certificate and key"
            ),
            ("http.net", "only tcp listeners are supported"),
        ]
        for (key, message) in unsupported where reader.has(key) {
            if key == "http.net", try reader.string(key) == "tcp" { continue }
            throw ConfigError(key: key, message: message)
        }
        if try reader.bool("compatibility.schema1.enabled") == true {
            throw ConfigError(
                key: "compatibility.schema1.enabled", message: "Docker schema1 manifests are not supported")
        }
        for driver in try reader.keys("storage") {
            let known = ["filesystem", "s3"] + ConfigValue.storageSettings
            if !known.contains(driver.lowercased()) {
                throw ConfigError(
                    key: "storage.\(driver)",
                    message: "storage driver \(driver) is not supported yet; use storage.filesystem or storage.s3")
            }
        }
    }

    static func decodeBlobDescriptorCache(_ reader: ConfigReader) throws -> Configuration.BlobDescriptorCache {
        let size = try reader.int("storage.cache.blobdescriptorsize", range: 1...10_000_000) ?? 10_000
        switch try reader.string("storage.cache.blobdescriptor")?.lowercased() {
        case nil, "": return .none
        case "inmemory": return .inMemory(size: size)
        case "redis": return .redis(try decodeRedis(reader))
        case let other?:
            throw ConfigError(key: "storage.cache.blobdescriptor", message: "must be inmemory or redis, not \(other)")
        }
    }

    static func decodeLocalBlobs(_ reader: ConfigReader) throws -> Configuration.LocalBlobs? {
        guard reader.has("storage.cache.localblobs") else { return nil }
        guard let directory = try reader.string("storage.cache.localblobs.directory"), !directory.isEmpty else {
            throw ConfigError(key: "storage.cache.localblobs.directory", message: "is required (a local directory)")
        }
        guard let maxSize = try reader.byteSize("storage.cache.localblobs.maxsize") else {
            throw ConfigError(key: "storage.cache.localblobs.maxsize", message: "is required (a size such as 20GiB)")
        }
        return Configuration.LocalBlobs(directory: directory, maxSize: maxSize)
    }

    static func decodeRedis(_ reader: ConfigReader) throws -> Configuration.Redis {
        guard let address = try reader.string("redis.addr"), !address.isEmpty else {
            throw ConfigError(
                key: "redis.addr", message: "is required when storage.cache.blobdescriptor is redis (host:port)")
        }
        guard let (parsedHost, port) = parseAddress(address), port > 0 else {
            throw ConfigError(key: "redis.addr", message: "must be host:port, not \(address)")
        }
        let host = address.hasPrefix(":") ? "localhost" : parsedHost
        var redis = Configuration.Redis(host: host, port: port)
        redis.username = try reader.string("redis.username").flatMap { $0.isEmpty ? nil : $0 }
        redis.password = try reader.string("redis.password").flatMap { $0.isEmpty ? nil : $0 }
        redis.db = try reader.int("redis.db", range: 0...1_000_000) ?? 0
        // registry:2: a zero or absent timeout means none; Berth keeps a second for each, so
        // that a Redis that stops answering slows no request by more than that.
        func timeout(_ key: String) throws -> Duration? {
            let value = try reader.duration("redis.\(key)") ?? .seconds(1)
            return value == .zero ? .seconds(1) : value
        }
        redis.dialTimeout = try timeout("dialtimeout")
        redis.readTimeout = try timeout("readtimeout")
        redis.writeTimeout = try timeout("writetimeout")
        redis.maxIdle = try reader.int("redis.pool.maxidle", range: 0...100_000) ?? redis.maxIdle
        redis.maxActive = try reader.int("redis.pool.maxactive", range: 0...100_000) ?? redis.maxActive
        redis.idleTimeout = try reader.duration("redis.pool.idletimeout") ?? redis.idleTimeout
        redis.tls = try reader.bool("redis.tls.enabled") ?? false
        return redis
    }

    static func decodeLog(_ reader: ConfigReader, _ config: inout Configuration) throws {
        if let level = try reader.string("log.level") ?? reader.string("loglevel") {
            let normalised = level.lowercased() == "warning" ? "warn" : level.lowercased()
            guard let parsed = Configuration.Log.Level(rawValue: normalised) else {
                throw ConfigError(key: "log.level", message: "must be error, warn, info or debug, not \(level)")
            }
            config.log.level = parsed
        }
        if let formatter = try reader.string("log.formatter") {
            guard let parsed = Configuration.Log.Formatter(rawValue: formatter.lowercased()) else {
                throw ConfigError(key: "log.formatter", message: "must be text, json or logstash, not \(formatter)")
            }
            config.log.formatter = parsed
        }
        for key in try reader.keys("log.fields") {
            if case .scalar(let value) = reader.value("log.fields.\(key.lowercased())") ?? .null {
                config.log.fields.append((key, value))
            }
        }
        config.log.accessLogDisabled = try reader.bool("log.accesslog.disabled") ?? false
    }

    static func decodeHTTP(_ reader: ConfigReader, _ config: inout Configuration) throws {
        if let addr = try reader.string("http.addr") {
            guard let (host, port) = parseAddress(addr) else {
                throw ConfigError(key: "http.addr", message: "must be host:port or :port, not \"\(addr)\"")
            }
            config.http.host = host
            config.http.port = port
        }
        if let prefix = try reader.string("http.prefix"), !prefix.isEmpty {
            guard prefix.hasPrefix("/") else { throw ConfigError(key: "http.prefix", message: "must start with /") }
            config.http.prefix = prefix
        }
        if let host = try reader.string("http.host"), !host.isEmpty {
            guard host.hasPrefix("http://") || host.hasPrefix("https://") else {
                throw ConfigError(key: "http.host", message: "must be a URL such as https://registry.example.com")
            }
            config.http.externalURL = host
        }
        if let addr = try reader.string("http.debug.addr"), !addr.isEmpty {
            guard let (host, port) = parseAddress(addr) else {
                throw ConfigError(key: "http.debug.addr", message: "must be host:port or :port, not \"\(addr)\"")
            }
            config.http.debug = (host, port)
        }
        if try reader.bool("http.debug.prometheus.enabled") ?? false {
            let path = try reader.string("http.debug.prometheus.path") ?? "/metrics"
            guard path.hasPrefix("/") else {
                throw ConfigError(key: "http.debug.prometheus.path", message: "must start with /")
            }
            guard config.http.debug != nil else {
                throw ConfigError(key: "http.debug.addr", message: "is needed to serve http.debug.prometheus")
            }
            config.http.prometheusPath = path
        } else {
            _ = reader.value("http.debug.prometheus")
        }
        config.http.secret = try reader.string("http.secret")
        config.http.relativeURLs = try reader.bool("http.relativeurls") ?? false
        config.http.drainTimeout = try reader.duration("http.draintimeout") ?? config.http.drainTimeout
        config.http.idleTimeout = try reader.duration("http.idletimeout") ?? config.http.idleTimeout
        if let certificate = try reader.string("http.tls.certificate") {
            guard let key = try reader.string("http.tls.key") else {
                throw ConfigError(key: "http.tls.key", message: "is required with http.tls.certificate")
            }
            var tls = Configuration.TLS(certificate: certificate, key: key)
            tls.clientCAs = try reader.strings("http.tls.clientcas") ?? []
            tls.minimumTLS = try reader.string("http.tls.minimumtls")
            if let minimum = tls.minimumTLS, !["tls1.0", "tls1.1", "tls1.2", "tls1.3"].contains(minimum) {
                throw ConfigError(key: "http.tls.minimumtls", message: "must be tls1.2 or tls1.3, not \(minimum)")
            }
            config.http.tls = tls
        } else if reader.has("http.tls.key") {
            throw ConfigError(key: "http.tls.certificate", message: "is required with http.tls.key")
        }
        // Checked here once, because responses are not: the server sends headers unvalidated.
        let tokenBytes = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for name in try reader.keys("http.headers") {
            let key = "http.headers.\(name.lowercased())"
            guard !name.isEmpty, name.utf8.allSatisfy(tokenBytes.contains) else {
                throw ConfigError(key: key, message: "is not a valid header name")
            }
            for value in try reader.strings(key) ?? [] {
                guard !value.utf8.contains(where: { $0 == 0x0d || $0 == 0x0a || $0 == 0 }) else {
                    throw ConfigError(key: key, message: "a header value cannot hold a line break or NUL")
                }
                config.http.headers.append((name, value))
            }
        }
    }

    static func decodeValidation(_ reader: ConfigReader, _ config: inout Configuration) throws {
        if let enabled = try reader.bool("validation.enabled") { config.validation.disabled = !enabled }
        if let disabled = try reader.bool("validation.disabled") { config.validation.disabled = disabled }
        config.validation.urlsAllow = try reader.strings("validation.manifests.urls.allow") ?? []
        config.validation.urlsDeny = try reader.strings("validation.manifests.urls.deny") ?? []
        for (key, patterns) in [("allow", config.validation.urlsAllow), ("deny", config.validation.urlsDeny)] {
            for pattern in patterns where (try? NSRegularExpression(pattern: pattern)) == nil {
                throw ConfigError(
                    key: "validation.manifests.urls.\(key)", message: "invalid regular expression \(pattern)")
            }
        }
    }

    /// `:5000`, `0.0.0.0:5000`, `[::1]:5000`, `localhost:0`.
    static func parseAddress(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }
}
