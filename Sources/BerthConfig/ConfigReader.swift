internal import Foundation

/// Typed, path-aware reads from a `ConfigValue` tree. Every key read is remembered, so that what
/// was never read can be reported as unknown.
final class ConfigReader {
    private let root: ConfigValue
    private(set) var visited: Set<String> = []

    init(_ root: ConfigValue) { self.root = root }

    func value(_ path: String) -> ConfigValue? {
        visited.insert(path)
        return lookup(path)
    }

    private func lookup(_ path: String) -> ConfigValue? {
        var node: ConfigValue? = root
        for key in path.split(separator: ".") {
            node = node?[String(key)]
        }
        if case .null = node { return nil }
        return node
    }

    func has(_ path: String) -> Bool { value(path) != nil }

    func string(_ path: String) throws -> String? {
        guard let value = value(path) else { return nil }
        guard case .scalar(let text) = value else { throw ConfigError(key: path, message: "must be a string") }
        return text
    }

    func bool(_ path: String) throws -> Bool? {
        guard let text = try string(path) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw ConfigError(key: path, message: "must be true or false, not \"\(text)\"")
        }
    }

    func int(_ path: String, range: ClosedRange<Int>) throws -> Int? {
        guard let text = try string(path) else { return nil }
        guard let number = Int(text), range.contains(number) else {
            throw ConfigError(
                key: path,
                message: "must be a whole number from \(range.lowerBound) to \(range.upperBound), not \"\(text)\"")
        }
        return number
    }

    /// Go-style durations: `300ms`, `10s`, `5m`, `1h30m`; a bare number is nanoseconds, as in Go.
    func duration(_ path: String) throws -> Duration? {
        guard let text = try string(path) else { return nil }
        guard let duration = Self.parseDuration(text) else {
            throw ConfigError(key: path, message: "must be a duration such as 30s, 5m or 1h, not \"\(text)\"")
        }
        return duration
    }

    static func parseDuration(_ text: String) -> Duration? {
        if let nanoseconds = Int64(text) { return .nanoseconds(nanoseconds) }
        var total = Duration.zero
        var number = ""
        var unit = ""
        var parsedAny = false
        func flush() -> Bool {
            guard let value = Double(number) else { return false }
            let scale: Double
            switch unit {
            case "ns": scale = 1e-9
            case "us", "µs": scale = 1e-6
            case "ms": scale = 1e-3
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default: return false
            }
            total += .nanoseconds(Int64(value * scale * 1e9))
            number = ""
            unit = ""
            parsedAny = true
            return true
        }
        for c in text {
            if c.isNumber || c == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(c)
            } else {
                unit.append(c)
            }
        }
        guard flush(), parsedAny else { return nil }
        return total
    }

    /// Sizes in bytes: `1073741824`, or a number with a unit, `500MB`, `20GiB` (decimal `KB` `MB`
    /// `GB` `TB`, binary `KiB` `MiB` `GiB` `TiB`).
    func byteSize(_ path: String) throws -> Int64? {
        guard let text = try string(path) else { return nil }
        guard let size = Self.parseByteSize(text), size > 0 else {
            throw ConfigError(key: path, message: "must be a size such as 500MB or 20GiB, not \"\(text)\"")
        }
        return size
    }

    static func parseByteSize(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let number = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(number.count).trimmingCharacters(in: .whitespaces).lowercased()
        let scales: [String: Double] = [
            "": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
            "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824, "tib": 1_099_511_627_776,
        ]
        guard let value = Double(number), let scale = scales[unit] else { return nil }
        return Int64(exactly: (value * scale).rounded())
    }

    func strings(_ path: String) throws -> [String]? {
        guard let value = value(path) else { return nil }
        switch value {
        case .scalar(let text): return [text]
        case .list(let items):
            return try items.map {
                guard case .scalar(let text) = $0 else {
                    throw ConfigError(key: path, message: "must be a list of strings")
                }
                return text
            }
        default: throw ConfigError(key: path, message: "must be a list of strings")
        }
    }

    /// The keys of a map (in file order). Reading the keys does not mark what is below them
    /// as read: each entry is read (or reported as unknown) on its own.
    func keys(_ path: String) throws -> [String] {
        guard let value = lookup(path), value != .null else { return [] }
        guard case .map(let entries) = value else { throw ConfigError(key: path, message: "must be a mapping") }
        return entries.map(\.key)
    }

    /// Leaf paths of the tree that were never read: unknown keys.
    func unread() -> [String] {
        var result: [String] = []
        func walk(_ node: ConfigValue, _ path: String) {
            if visited.contains(path.lowercased()) { return }
            if case .map(let entries) = node, !entries.isEmpty {
                for (key, child) in entries { walk(child, path.isEmpty ? key : "\(path).\(key)") }
            } else if !path.isEmpty {
                result.append(path)
            }
        }
        walk(root, "")
        return result
    }
}
