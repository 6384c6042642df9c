internal import Foundation

extension Configuration {
    /// registry:2's `notifications.endpoints`: where events (pushes, pulls, mounts, deletes) are
    /// sent as webhooks.
    public struct Notifications: Sendable {
        public var endpoints: [Endpoint] = []
    }

    public struct Endpoint: Sendable {
        public var name: String
        public var url: String
        public var headers: [(String, String)] = []
        /// How long one delivery may take.
        public var timeout: Duration = .seconds(1)
        /// Failures in a row after which deliveries wait `backoff` before the next try.
        public var threshold = 10
        public var backoff: Duration = .seconds(1)
        /// Events whose target has one of these media types are not sent (`ignoredmediatypes`
        /// and `ignore.mediatypes`).
        public var ignoredMediaTypes: [String] = []
        /// Actions (`pull`, `push`, `mount`, `delete`) not sent (`ignore.actions`).
        public var ignoredActions: [String] = []
        /// Berth: events held for the endpoint while it is slow or down; past this, new events
        /// for it are dropped (logged and counted), so that a dead endpoint never grows memory.
        public var queueSize = 10_000
    }
}

extension ConfigurationLoader {
    static func decodeNotifications(
        _ reader: ConfigReader, _ warnings: inout [String]
    ) throws
        -> Configuration.Notifications
    {
        var notifications = Configuration.Notifications()
        _ = reader.value("notifications.events")  // registry:2's includereferences: nothing to include
        guard let value = reader.value("notifications.endpoints") else { return notifications }
        guard case .list(let items) = value else {
            throw ConfigError(key: "notifications.endpoints", message: "must be a list of endpoints")
        }
        for (index, item) in items.enumerated() {
            let key = "notifications.endpoints[\(index)]"
            let entry = ConfigReader(item)
            func at(_ error: ConfigError) -> ConfigError {
                ConfigError(key: "\(key).\(error.key)", message: error.message)
            }
            do {
                guard let name = try entry.string("name"), !name.isEmpty else {
                    throw ConfigError(key: "name", message: "is required")
                }
                guard let url = try entry.string("url"), let parsed = URL(string: url),
                    ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil
                else {
                    throw ConfigError(key: "url", message: "must be an http:// or https:// URL")
                }
                var endpoint = Configuration.Endpoint(name: name, url: url)
                for header in try entry.keys("headers") {
                    for value in try entry.strings("headers.\(header.lowercased())") ?? [] {
                        guard !value.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                            throw ConfigError(key: "headers.\(header)", message: "must not contain a line break")
                        }
                        endpoint.headers.append((header, value))
                    }
                }
                endpoint.timeout = try entry.duration("timeout") ?? endpoint.timeout
                endpoint.threshold = try entry.int("threshold", range: 1...1_000_000) ?? endpoint.threshold
                endpoint.backoff = try entry.duration("backoff") ?? endpoint.backoff
                endpoint.ignoredMediaTypes =
                    (try entry.strings("ignoredmediatypes") ?? []) + (try entry.strings("ignore.mediatypes") ?? [])
                endpoint.ignoredActions = try entry.strings("ignore.actions") ?? []
                for action in endpoint.ignoredActions where !["pull", "push", "mount", "delete"].contains(action) {
                    throw ConfigError(key: "ignore.actions", message: "actions are pull, push, mount and delete")
                }
                endpoint.queueSize = try entry.int("queuesize", range: 1...10_000_000) ?? endpoint.queueSize
                let disabled = try entry.bool("disabled") ?? false
                for unknown in entry.unread() {
                    warnings.append("unknown configuration key \(key).\(unknown) is ignored")
                }
                if !disabled { notifications.endpoints.append(endpoint) }
            } catch let error as ConfigError {
                throw at(error)
            }
        }
        return notifications
    }
}
