/// A `WWW-Authenticate` challenge from an upstream registry: `Basic realm="…"`, or the Docker
/// token flow's `Bearer realm="…",service="…",scope="…"`.
struct AuthChallenge: Equatable, Sendable {
    enum Scheme: Equatable, Sendable { case basic, bearer }

    let scheme: Scheme
    let parameters: [String: String]

    var realm: String? { parameters["realm"] }
    var service: String? { parameters["service"] }
    var scope: String? { parameters["scope"] }

    /// Parses one challenge; nil for a scheme a registry does not use or a malformed header.
    init?(_ header: String) {
        let trimmed = header.drop { $0 == " " }
        guard let space = trimmed.firstIndex(of: " ") ?? (trimmed.isEmpty ? nil : trimmed.endIndex) else { return nil }
        switch trimmed[..<space].lowercased() {
        case "basic": scheme = .basic
        case "bearer": scheme = .bearer
        default: return nil
        }
        guard let parameters = Self.parameters(trimmed[space...]) else { return nil }
        self.parameters = parameters
    }

    /// `key="value", key=value, …`, with backslash escapes inside quotes (RFC 7235).
    private static func parameters(_ text: Substring) -> [String: String]? {
        var result: [String: String] = [:]
        var rest = text[...]
        while true {
            rest = rest.drop { $0 == " " || $0 == "," }
            if rest.isEmpty { return result }
            guard let equals = rest.firstIndex(of: "=") else { return nil }
            let key = rest[..<equals].trimmingSpaces().lowercased()
            rest = rest[rest.index(after: equals)...].drop { $0 == " " }
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var escaped = false
                var closed = false
                while let c = rest.first {
                    rest = rest.dropFirst()
                    if escaped {
                        value.append(c)
                        escaped = false
                    } else if c == "\\" {
                        escaped = true
                    } else if c == "\"" {
                        closed = true
                        break
                    } else {
                        value.append(c)
                    }
                }
                guard closed else { return nil }
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = String(rest[..<end]).trimmingSpaces()
                rest = rest[end...]
            }
            guard !key.isEmpty else { return nil }
            result[key] = value
        }
    }
}

extension StringProtocol {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
