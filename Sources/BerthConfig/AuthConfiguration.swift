extension Configuration {
    /// registry:2's `auth` section, as far as Berth serves it.
    public struct Auth: Sendable {
        /// `auth.htpasswd`: Basic credentials checked against a bcrypt htpasswd file.
        public struct Htpasswd: Sendable {
            public var realm: String
            public var path: String
        }

        public var htpasswd: Htpasswd?
    }
}

extension ConfigurationLoader {
    static func decodeAuth(_ reader: ConfigReader, _ config: inout Configuration) throws {
        let kinds = try reader.keys("auth")
        if kinds.count > 1 {
            throw ConfigError(key: "auth", message: "give one kind of auth, not \(kinds.joined(separator: " and "))")
        }
        for kind in kinds {
            guard kind.lowercased() == "htpasswd" else {
                throw ConfigError(
                    key: "auth.\(kind)",
                    message: kind.lowercased() == "token"
                        ? "token authentication is not supported yet; use auth.htpasswd or an authenticating proxy"
                        : "\(kind) authentication is not supported; use auth.htpasswd")
            }
            guard let realm = try reader.string("auth.htpasswd.realm"), !realm.isEmpty else {
                throw ConfigError(
                    key: "auth.htpasswd.realm", message: "is required: the realm clients are told to log in to")
            }
            guard let path = try reader.string("auth.htpasswd.path"), !path.isEmpty else {
                throw ConfigError(key: "auth.htpasswd.path", message: "is required: the htpasswd file (htpasswd -B)")
            }
            config.auth.htpasswd = Configuration.Auth.Htpasswd(realm: realm, path: path)
        }
    }
}
