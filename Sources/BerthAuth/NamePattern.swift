internal import Foundation

/// A docker_auth match string: `/…/` is a regular expression (matched against the whole
/// value, unlike docker_auth, so that `/admin/` cannot match `notadmin`); a string with `*` or
/// `?` is a glob as Go's `path.Match` has it (`*` is any run of characters but `/`, `?` one of
/// them); anything else must be equal. `${account}` in a pattern is the requesting account.
struct NamePattern: Sendable {
    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    let text: String

    init(_ text: String) throws(Invalid) {
        self.text = text
        // Compile once now, so that a bad expression stops the start, not a login.
        if Self.isRegex(text) {
            do {
                _ = try Regex(String(text.dropFirst().dropLast()))
            } catch {
                throw Invalid(description: "\(text) is not a valid regular expression: \(error)")
            }
        }
    }

    static func isRegex(_ text: String) -> Bool { text.count >= 2 && text.hasPrefix("/") && text.hasSuffix("/") }

    func matches(_ value: String, account: String) -> Bool {
        if Self.isRegex(text) {
            let source = text.dropFirst().dropLast().replacingOccurrences(
                of: "${account}", with: Self.regexLiteral(account))
            guard let regex = try? Regex(source) else { return false }
            return (try? regex.wholeMatch(in: value)) != nil
        }
        return Self.glob(Self.tokens(text, account: account)[...], Array(value)[...])
    }

    enum Token: Equatable {
        case literal(Character)
        case anyRun
        case anyOne
    }

    /// The glob as tokens, with `${account}` spliced in as literal characters.
    static func tokens(_ pattern: String, account: String) -> [Token] {
        var out: [Token] = []
        var rest = pattern[...]
        while let first = rest.first {
            if rest.hasPrefix("${account}") {
                out += account.map(Token.literal)
                rest = rest.dropFirst("${account}".count)
                continue
            }
            switch first {
            case "*": out.append(.anyRun)
            case "?": out.append(.anyOne)
            default: out.append(.literal(first))
            }
            rest = rest.dropFirst()
        }
        return out
    }

    static func glob(_ pattern: ArraySlice<Token>, _ value: ArraySlice<Character>) -> Bool {
        var p = pattern
        var v = value
        while let token = p.first {
            switch token {
            case .literal(let c):
                guard v.first == c else { return false }
                v = v.dropFirst()
            case .anyOne:
                guard let c = v.first, c != "/" else { return false }
                v = v.dropFirst()
            case .anyRun:
                let rest = p.dropFirst()
                var tail = v
                while true {
                    if glob(rest, tail) { return true }
                    guard let c = tail.first, c != "/" else { return false }
                    tail = tail.dropFirst()
                }
            }
            p = p.dropFirst()
        }
        return v.isEmpty
    }

    /// `text` with every character that means something in a regular expression escaped.
    static func regexLiteral(_ text: String) -> String {
        var out = ""
        for c in text {
            if "\\^$.|?*+()[]{}/-".contains(c) { out.append("\\") }
            out.append(c)
        }
        return out
    }
}
