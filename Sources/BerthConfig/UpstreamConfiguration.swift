internal import Foundation

extension Configuration {
    /// One upstream registry the mirror pulls through (registry:2's `proxy:` block, or a Berth
    /// `mirror.upstreams.<name>` entry).
    public struct Upstream: Sendable, Equatable {
        public var name: String
        /// `scheme://host[:port]`, no path.
        public var url: String
        /// First name components that route to this upstream: `docker.io/library/alpine`.
        public var prefixes: [String] = []
        /// Serves un-prefixed names (what Docker's `registry-mirrors` sends).
        public var isDefault = false
        public var username: String?
        public var password: String?
        /// Repository patterns (`*` within a name component, `**` across them) that may be
        /// pulled through; empty allows all. `deny` wins over `allow`.
        public var allow: [String] = []
        public var deny: [String] = []
        /// Mirrored content unused this long is removed (`proxy.ttl`; default 168h; 0 keeps it
        /// until the size cap needs the room, as registry:2's 0 turns expiry off).
        public var ttl: Duration = .seconds(168 * 3600)
        /// The most this upstream's cached blobs may take; the least recently used go first.
        public var maxSize: Int64?
        /// How long a tag checked upstream is served without asking again (default 0: always).
        public var freshness: Duration = .zero
        /// Requests to this upstream at once; more wait their turn.
        public var concurrency = 16
        /// How long a request to the upstream may take before the cache is served instead.
        public var timeout: Duration = .seconds(30)
        /// After this many failures in a row, the upstream is taken as offline ...
        public var offlineAfter = 3
        /// ... for this long: the cache is served at once, without waiting on the upstream.
        public var offlineFor: Duration = .seconds(30)

        public init(name: String, url: String) {
            self.name = name
            self.url = url
        }

        /// The host (and port) of `url`: what containerd's `ns` names.
        public var host: String {
            URLComponents(string: url).map { c in c.port.map { "\(c.host ?? ""):\($0)" } ?? (c.host ?? "") } ?? ""
        }
    }

    /// `mirror` (Berth) and `proxy` (registry:2): the upstreams, and the names always local.
    public struct Mirror: Sendable {
        public var upstreams: [Upstream] = []
        /// Repository patterns that stay local (pushable) even when a default upstream serves
        /// un-prefixed names.
        public var local: [String] = []
        /// How often mirrored content is checked against each upstream's `ttl` and size cap.
        public var sweepInterval: Duration = .seconds(600)
        /// A manifest served this recently counts as being pulled: the blobs it references are
        /// not evicted, whatever their own last use.
        public var inUse: Duration = .seconds(600)
    }
}

extension ConfigurationLoader {
    static func decodeMirror(
        _ reader: ConfigReader, _ environment: [String: String], _ config: inout Configuration
    ) throws {
        if let remote = try reader.string("proxy.remoteurl") {
            var upstream = Configuration.Upstream(name: "proxy", url: try upstreamURL(remote, key: "proxy.remoteurl"))
            upstream.isDefault = true
            upstream.username = try reader.string("proxy.username")
            upstream.password = try reader.string("proxy.password")
            upstream.ttl = try reader.duration("proxy.ttl") ?? upstream.ttl
            config.mirror.upstreams.append(upstream)
        } else if reader.has("proxy") {
            throw ConfigError(key: "proxy.remoteurl", message: "is required in the proxy section")
        }
        for name in try reader.keys("mirror.upstreams") {
            config.mirror.upstreams.append(try decodeUpstream(reader, environment, name: name))
        }
        config.mirror.local = try patterns(reader, "mirror.local")
        config.mirror.sweepInterval = try positive(reader, "mirror.expiry.interval") ?? config.mirror.sweepInterval
        config.mirror.inUse = try reader.duration("mirror.expiry.inuse") ?? config.mirror.inUse
        let defaults = config.mirror.upstreams.filter(\.isDefault)
        if defaults.count > 1 {
            throw ConfigError(
                key: "mirror.upstreams",
                message:
                    "only one upstream may serve un-prefixed names, not \(defaults.map(\.name).joined(separator: ", "))"
            )
        }
        var claimed: [String: String] = [:]
        for upstream in config.mirror.upstreams {
            for prefix in upstream.prefixes {
                if let other = claimed.updateValue(upstream.name, forKey: prefix) {
                    throw ConfigError(
                        key: "mirror.upstreams.\(upstream.name).prefixes",
                        message: "\(prefix) is already the prefix of upstream \(other)")
                }
            }
        }
    }

    private static func decodeUpstream(
        _ reader: ConfigReader, _ environment: [String: String], name: String
    ) throws -> Configuration.Upstream {
        let key = "mirror.upstreams.\(name.lowercased())"
        // The name is a directory of the mirror's usage records and a label of its counters.
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw ConfigError(key: key, message: "an upstream's name may hold only letters, digits, - _ and .")
        }
        guard let url = try reader.string("\(key).url") else {
            throw ConfigError(key: "\(key).url", message: "is required: the upstream registry's URL")
        }
        var upstream = Configuration.Upstream(name: name, url: try upstreamURL(url, key: "\(key).url"))
        upstream.prefixes = try reader.strings("\(key).prefixes") ?? []
        for prefix in upstream.prefixes
        where prefix.isEmpty || prefix.contains("/") || prefix != prefix.lowercased() {
            throw ConfigError(
                key: "\(key).prefixes", message: "\(prefix) must be one lower-case name component, such as docker.io")
        }
        upstream.isDefault = try reader.bool("\(key).default") ?? false
        if upstream.prefixes.isEmpty && !upstream.isDefault {
            throw ConfigError(key: "\(key).prefixes", message: "give prefixes, or default: true, to reach the upstream")
        }
        upstream.username = try reader.string("\(key).username")
        upstream.password = try secret(reader, environment, "\(key).password")
        if (upstream.username == nil) != (upstream.password == nil) {
            throw ConfigError(key: "\(key).username", message: "username and password go together")
        }
        upstream.allow = try patterns(reader, "\(key).allow")
        upstream.deny = try patterns(reader, "\(key).deny")
        upstream.ttl = try reader.duration("\(key).ttl") ?? upstream.ttl
        upstream.maxSize = try reader.byteSize("\(key).maxsize")
        upstream.offlineAfter = try reader.int("\(key).offlineafter", range: 1...1000) ?? upstream.offlineAfter
        upstream.offlineFor = try reader.duration("\(key).offlinefor") ?? upstream.offlineFor
        upstream.freshness = try reader.duration("\(key).freshness") ?? upstream.freshness
        upstream.concurrency = try reader.int("\(key).concurrency", range: 1...1024) ?? upstream.concurrency
        upstream.timeout = try reader.duration("\(key).timeout") ?? upstream.timeout
        return upstream
    }

    /// A password inline (`password`), from an environment variable (`passwordenv`), or from a
    /// file (`passwordfile`, trailing newline dropped), so that secrets can stay out of the file.
    private static func secret(
        _ reader: ConfigReader, _ environment: [String: String], _ key: String
    ) throws
        -> String?
    {
        if let inline = try reader.string(key) { return inline }
        if let variable = try reader.string("\(key)env") {
            guard let value = environment[variable] else {
                throw ConfigError(key: "\(key)env", message: "environment variable \(variable) is not set")
            }
            return value
        }
        if let path = try reader.string("\(key)file") {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigError(key: "\(key)file", message: "cannot read \(path)")
            }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
        }
        return nil
    }

    private static func positive(_ reader: ConfigReader, _ key: String) throws -> Duration? {
        let duration = try reader.duration(key)
        if let duration, duration <= .zero { throw ConfigError(key: key, message: "must be longer than 0") }
        return duration
    }

    private static func patterns(_ reader: ConfigReader, _ key: String) throws -> [String] {
        let list = try reader.strings(key) ?? []
        for pattern in list where pattern.isEmpty || pattern.hasPrefix("/") || pattern.hasSuffix("/") {
            throw ConfigError(key: key, message: "\"\(pattern)\" is not a repository pattern such as library/*")
        }
        return list
    }

    private static func upstreamURL(_ text: String, key: String) throws -> String {
        var trimmed = text
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let c = URLComponents(string: trimmed), c.scheme == "http" || c.scheme == "https",
            let host = c.host, !host.isEmpty, c.path.isEmpty, c.query == nil
        else {
            throw ConfigError(key: key, message: "must be an http or https URL with no path, not \"\(text)\"")
        }
        return trimmed
    }
}
