import ArgumentParser

/// `berth`: the registry and its tools, one binary.
@main
struct Berth: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "A container registry and pull-through mirror; a drop-in for registry:2.",
        version: "berth \(version)",
        subcommands: [Serve.self]
    )
}
