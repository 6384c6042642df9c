public import NIOHTTP1
public import OCI

/// What a request must be allowed to do, in the Docker token spec's terms: a resource type
/// and name, and actions on it (`repository:team/app:pull,push`, `registry:catalog:*`). The
/// route decides it once, for every authorizer (house rule: no handler checks permissions).
public struct Access: Hashable, Sendable, CustomStringConvertible {
    public enum Action: String, Hashable, Sendable, Comparable {
        case pull, push, delete
        case all = "*"

        public static func < (a: Action, b: Action) -> Bool { a.rawValue < b.rawValue }
    }

    public let type: String
    public let name: String
    /// Sorted, without repeats.
    public let actions: [Action]

    public init(type: String, name: String, actions: [Action]) {
        self.type = type
        self.name = name
        self.actions = Array(Set(actions)).sorted()
    }

    public static func repository(_ name: RepositoryName, _ actions: Action...) -> Access {
        Access(type: "repository", name: name.value, actions: actions)
    }

    public static let catalog = Access(type: "registry", name: "catalog", actions: [.all])

    /// The scope as a token request and a challenge spell it.
    public var description: String { "\(type):\(name):\(actions.map(\.rawValue).joined(separator: ","))" }
}

extension Route {
    /// The access a request with `method` needs here, as registry:2 asks for it: `GET` and
    /// `HEAD` need `pull`; `POST`, `PUT` and `PATCH` need `pull,push`; `DELETE` needs
    /// `delete`; a mount needs `pull` on the repository it takes the blob from as well; the
    /// catalog needs `registry:catalog:*`. `/v2/` needs none: any principal may ask whether
    /// the API is there (an authorizer that requires sign-in still asks for it).
    public func requiredAccess(_ method: HTTPMethod, query: [String: String]) -> [Access] {
        guard let name = repositoryName else { return self == .catalog ? [.catalog] : [] }
        switch method {
        case .GET, .HEAD:
            return [.repository(name, .pull)]
        case .DELETE:
            return [.repository(name, .delete)]
        default:
            var access = [Access.repository(name, .pull, .push)]
            if case .uploads = self, query["mount"] != nil,
                let from = query["from"].flatMap({ try? RepositoryName($0) })
            {
                access.append(.repository(from, .pull))
            }
            return access
        }
    }
}
