extension Configuration {
    /// registry:2's `auth` section, as far as Berth serves it.
    public struct Auth: Sendable {
        /// `auth.htpasswd`: Basic credentials checked against a bcrypt htpasswd file.
        public struct Htpasswd: Sendable {
            public var realm: String
            public var path: String
        }

        /// `auth.token`: registry tokens signed by a trusted key, as registry:2 and
        /// distribution 3 validate them; with `server`, Berth issues them too.
        public struct Token: Sendable {
            public var realm: String
            public var service: String
            public var issuer: String
            public var rootCertBundle: String?
            /// distribution 3's `jwks`: a JSON Web Key Set file of trusted keys.
            public var jwks: String?
            /// distribution 3's `autoredirect`: the realm is `autoredirectpath` on the host
            /// the client asked for.
            public var autoRedirectPath: String?
            public var server: TokenServer?
        }

        /// `auth.token.server` (a Berth extension): the Docker token endpoint, served on the
        /// realm's path, with users and docker_auth-style access rules.
        public struct TokenServer: Sendable {
            public enum KeyIDStyle: String, Sendable {
                /// libtrust's key ID, what registry:2 2.8 and docker_auth name keys by.
                case libtrust
                /// RFC 7638's JWK thumbprint, what distribution 3 names keys by.
                case thumbprint
            }

            public var key: String
            public var certificate: String
            public var keyID: KeyIDStyle = .libtrust
            public var expiration: Duration = .seconds(300)
            public var refreshExpiration: Duration = .seconds(30 * 24 * 3600)
            public var htpasswd: String?
            /// `user: bcrypt hash`.
            public var users: [String: String] = [:]
            /// Nil: every signed-in user may do everything, anonymous nothing.
            public var acl: [AccessRule]?
        }

        /// One rule of `auth.token.server.acl`: what it matches (absent fields match all) and
        /// the actions it allows. The first rule that matches decides.
        public struct AccessRule: Sendable, Equatable {
            public var account: String?
            public var name: String?
            public var type: String?
            public var ip: String?
            public var actions: [String]

            public init(
                account: String? = nil, name: String? = nil, type: String? = nil, ip: String? = nil,
                actions: [String]
            ) {
                (self.account, self.name, self.type, self.ip, self.actions) = (account, name, type, ip, actions)
            }
        }

        public var htpasswd: Htpasswd?
        public var token: Token?
    }
}

extension ConfigurationLoader {
    static func decodeAuth(_ reader: ConfigReader, _ config: inout Configuration) throws {
        let kinds = try reader.keys("auth")
        if kinds.count > 1 {
            throw ConfigError(key: "auth", message: "give one kind of auth, not \(kinds.joined(separator: " and "))")
        }
        for kind in kinds {
            switch kind.lowercased() {
            case "htpasswd": config.auth.htpasswd = try decodeHtpasswd(reader)
            case "token": config.auth.token = try decodeToken(reader)
            default:
                throw ConfigError(
                    key: "auth.\(kind)", message: "\(kind) authentication is not supported; use htpasswd or token")
            }
        }
    }

    private static func required(_ reader: ConfigReader, _ key: String, _ why: String) throws -> String {
        guard let value = try reader.string(key), !value.isEmpty else {
            throw ConfigError(key: key, message: "is required: \(why)")
        }
        return value
    }

    private static func decodeHtpasswd(_ reader: ConfigReader) throws -> Configuration.Auth.Htpasswd {
        Configuration.Auth.Htpasswd(
            realm: try required(reader, "auth.htpasswd.realm", "the realm clients are told to log in to"),
            path: try required(reader, "auth.htpasswd.path", "the htpasswd file (htpasswd -B)"))
    }

    private static func decodeToken(_ reader: ConfigReader) throws -> Configuration.Auth.Token {
        let realm = try required(reader, "auth.token.realm", "the token server's URL clients are sent to")
        var token = Configuration.Auth.Token(
            realm: realm,
            service: try required(reader, "auth.token.service", "the service name tokens are issued for"),
            issuer: try required(reader, "auth.token.issuer", "the issuer (iss) tokens must name"),
            rootCertBundle: try reader.string("auth.token.rootcertbundle"),
            jwks: try reader.string("auth.token.jwks"))
        if try reader.bool("auth.token.autoredirect") == true {
            let path = try reader.string("auth.token.autoredirectpath") ?? "/auth/token"
            guard path.hasPrefix("/") else {
                throw ConfigError(key: "auth.token.autoredirectpath", message: "must be a path starting with /")
            }
            token.autoRedirectPath = path
        }
        if reader.has("auth.token.server") {
            token.server = try decodeTokenServer(reader)
        }
        if token.rootCertBundle == nil && token.jwks == nil && token.server == nil {
            throw ConfigError(
                key: "auth.token.rootcertbundle",
                message: "is required: the certificates whose keys sign tokens (or give jwks, or server)")
        }
        if token.server != nil && token.autoRedirectPath == nil && tokenPath(realm) == nil {
            throw ConfigError(
                key: "auth.token.realm",
                message: "must be an http(s) URL with a path, such as https://registry.example.com/auth/token")
        }
        return token
    }

    /// The path of an http(s) realm URL: where the built-in token server answers.
    public static func tokenPath(_ realm: String) -> String? {
        for scheme in ["http://", "https://"] where realm.lowercased().hasPrefix(scheme) {
            let rest = realm.dropFirst(scheme.count)
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            let path = String(rest[slash...].prefix { $0 != "?" && $0 != "#" })
            return path.count > 1 ? path : nil
        }
        return nil
    }

    private static func decodeTokenServer(_ reader: ConfigReader) throws -> Configuration.Auth.TokenServer {
        let key = "auth.token.server"
        var server = Configuration.Auth.TokenServer(
            key: try required(reader, "\(key).key", "the PEM private key (RSA or ECDSA) tokens are signed with"),
            certificate: try required(reader, "\(key).certificate", "the PEM certificate (chain) of the signing key"))
        if let style = try reader.string("\(key).kid") {
            guard let parsed = Configuration.Auth.TokenServer.KeyIDStyle(rawValue: style.lowercased()) else {
                throw ConfigError(key: "\(key).kid", message: "must be libtrust or thumbprint, not \"\(style)\"")
            }
            server.keyID = parsed
        }
        for (field, path) in [
            (\Configuration.Auth.TokenServer.expiration, "expiration"), (\.refreshExpiration, "refreshexpiration"),
        ] {
            if let duration = try reader.duration("\(key).\(path)") {
                guard duration >= .seconds(10) else {
                    throw ConfigError(key: "\(key).\(path)", message: "must be at least 10s")
                }
                server[keyPath: field] = duration
            }
        }
        server.htpasswd = try reader.string("\(key).htpasswd")
        for user in try reader.keys("\(key).users") {
            let hash = try reader.string("\(key).users.\(user)") ?? ""
            guard ["$2y$", "$2b$", "$2a$"].contains(where: hash.hasPrefix) else {
                throw ConfigError(
                    key: "\(key).users.\(user)", message: "must be a bcrypt hash (htpasswd -nB \(user))")
            }
            server.users[user] = hash
        }
        if let acl = reader.value("\(key).acl") {
            server.acl = try decodeRules(acl, "\(key).acl")
        }
        return server
    }

    private static func decodeRules(_ value: ConfigValue, _ key: String) throws -> [Configuration.Auth.AccessRule] {
        guard case .list(let items) = value else { throw ConfigError(key: key, message: "must be a list of rules") }
        return try items.enumerated().map { index, item in
            let here = "\(key)[\(index)]"
            guard case .map(let fields) = item else {
                throw ConfigError(key: here, message: "must be a rule: match, actions and an optional comment")
            }
            for (field, _) in fields where !["match", "actions", "comment"].contains(field.lowercased()) {
                throw ConfigError(key: "\(here).\(field)", message: "is not a rule field (match, actions, comment)")
            }
            var rule = Configuration.Auth.AccessRule(actions: try actions(item["actions"], "\(here).actions"))
            if let match = item["match"], match != .null {
                guard case .map(let conditions) = match else {
                    throw ConfigError(key: "\(here).match", message: "must map account, name, type or ip to a pattern")
                }
                for (field, value) in conditions {
                    guard case .scalar(let text) = value else {
                        throw ConfigError(key: "\(here).match.\(field)", message: "must be a string")
                    }
                    switch field.lowercased() {
                    case "account": rule.account = text
                    case "name": rule.name = text
                    case "type": rule.type = text
                    case "ip": rule.ip = text
                    default:
                        throw ConfigError(
                            key: "\(here).match.\(field)", message: "is not a match field (account, name, type, ip)")
                    }
                }
            }
            return rule
        }
    }

    private static func actions(_ value: ConfigValue?, _ key: String) throws -> [String] {
        let list: [ConfigValue]
        switch value {
        case .list(let items): list = items
        case .scalar(let one): list = [.scalar(one)]
        case .null, nil: list = []
        case .map: throw ConfigError(key: key, message: "must be a list of actions")
        }
        return try list.map {
            guard case .scalar(let action) = $0, ["pull", "push", "delete", "*"].contains(action) else {
                throw ConfigError(key: key, message: "actions are pull, push, delete and *")
            }
            return action
        }
    }
}
