/// A repository name pattern: `*` matches within one name component, `**` across components
/// (`library/*` is `library/alpine` but not `library/a/b`; `team/**` is anything below `team/`).
struct RepositoryPattern: Sendable {
    let text: String

    func matches(_ name: String) -> Bool {
        Self.match(Array(text.utf8)[...], Array(name.utf8)[...])
    }

    private static func match(_ pattern: ArraySlice<UInt8>, _ name: ArraySlice<UInt8>) -> Bool {
        guard let first = pattern.first else { return name.isEmpty }
        if first == UInt8(ascii: "*") {
            let across = pattern.dropFirst().first == UInt8(ascii: "*")
            let rest = pattern.dropFirst(across ? 2 : 1)
            var candidate = name
            while true {
                if match(rest, candidate) { return true }
                guard let c = candidate.first, across || c != UInt8(ascii: "/") else { return false }
                candidate = candidate.dropFirst()
            }
        }
        guard name.first == first else { return false }
        return match(pattern.dropFirst(), name.dropFirst())
    }
}
