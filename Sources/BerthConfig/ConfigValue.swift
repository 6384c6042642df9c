internal import Yams

/// The configuration as a tree of YAML values, before it is typed. Environment overrides are
/// applied to this tree, so `REGISTRY_HTTP_ADDR` and `http: {addr: …}` are the same thing.
public indirect enum ConfigValue: Equatable, Sendable {
    case scalar(String)
    case list([ConfigValue])
    /// Keys in file order.
    case map([(key: String, value: ConfigValue)])
    case null

    public static func == (lhs: ConfigValue, rhs: ConfigValue) -> Bool {
        switch (lhs, rhs) {
        case (.scalar(let a), .scalar(let b)): a == b
        case (.list(let a), .list(let b)): a == b
        case (.map(let a), .map(let b)): a.map(\.key) == b.map(\.key) && a.map(\.value) == b.map(\.value)
        case (.null, .null): true
        default: false
        }
    }

    /// Parses YAML text. Throws `ConfigError` with the parser's message.
    public static func parse(yaml: String) throws -> ConfigValue {
        let node: Node?
        do {
            // The basic resolver types nothing: values stay strings until the reader asks for a
            // number or a flag, and Yams' default resolver would compile a dozen regular
            // expressions (loading ICU) just to guess types this code never uses.
            node = try Yams.compose(yaml: yaml, .basic)
        } catch {
            // The parser's message ends with a snippet and a caret; one line is enough here.
            let summary = "\(error)".split(separator: "\n").prefix(2).joined(separator: " ")
            throw ConfigError(key: "", message: "not valid YAML: \(summary)")
        }
        guard let node else { return .map([]) }
        return from(node)
    }

    static func from(_ node: Node) -> ConfigValue {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain, ["~", "null", "Null", "NULL", ""].contains(scalar.string) { return .null }
            return .scalar(scalar.string)
        case .sequence(let sequence):
            return .list(sequence.map(from))
        case .mapping(let mapping):
            return .map(mapping.map { (key: $0.key.string ?? "", value: from($0.value)) })
        case .alias:
            return .null
        }
    }

    subscript(key: String) -> ConfigValue? {
        guard case .map(let entries) = self else { return nil }
        return entries.first { $0.key.lowercased() == key }?.value
    }

    /// Sets the value at a lower-case key path, creating maps on the way. Keys match case-blind,
    /// as registry:2 matches environment names to fields.
    mutating func set(_ path: [String], to value: ConfigValue) {
        guard let first = path.first else {
            self = value
            return
        }
        var entries: [(key: String, value: ConfigValue)]
        if case .map(let existing) = self { entries = existing } else { entries = [] }
        if let index = entries.firstIndex(where: { $0.key.lowercased() == first }) {
            entries[index].value.set(Array(path.dropFirst()), to: value)
        } else {
            var child = ConfigValue.map([])
            child.set(Array(path.dropFirst()), to: value)
            entries.append((key: first, value: child))
        }
        self = .map(entries)
    }

    /// The keys of `storage` that are settings rather than drivers.
    static let storageSettings = ["delete", "redirect", "maintenance", "cache", "tag"]

    /// Applies `REGISTRY_*` variables: `REGISTRY_STORAGE_DELETE_ENABLED=true` sets
    /// `storage.delete.enabled`. Values are YAML, so lists and maps can be given too.
    /// `REGISTRY_STORAGE=<driver>` and `REGISTRY_AUTH=<kind>` select a driver, as in registry:2.
    mutating func applyEnvironment(_ environment: [String: String]) throws {
        for (name, text) in environment.sorted(by: { $0.key < $1.key }) {
            guard name.hasPrefix("REGISTRY_"), name != "REGISTRY_CONFIGURATION_PATH" else { continue }
            let path = name.dropFirst("REGISTRY_".count).lowercased().split(separator: "_").map(String.init)
            guard !path.isEmpty else { continue }
            let value = try ConfigValue.parse(yaml: text)
            if path.count == 1, ["storage", "auth"].contains(path[0]), case .scalar(let driver) = value {
                // Selecting a driver keeps that driver's settings and the storage settings that
                // are not a driver (`REGISTRY_STORAGE=s3` over a file's `filesystem`, as with
                // registry:2's image, leaves s3 alone).
                let chosen = driver.lowercased()
                var entries: [(key: String, value: ConfigValue)] = []
                if case .map(let existing) = self[path[0]] ?? .map([]) {
                    entries = existing.filter {
                        $0.key.lowercased() == chosen
                            || (path[0] == "storage" && Self.storageSettings.contains($0.key.lowercased()))
                    }
                }
                var section = ConfigValue.map(entries)
                if section[chosen] == nil { section.set([chosen], to: .map([])) }
                set(path, to: section)
                continue
            }
            set(path, to: value)
        }
    }
}
