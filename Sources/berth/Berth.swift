import ArgumentParser

/// `berth`: the registry and its tools, one binary.
@main
struct Berth: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "A container registry and pull-through mirror; a drop-in for registry:2.",
        version: "berth \(version)",
        subcommands: [Serve.self, GarbageCollect.self],
        // `berth config.yml` serves it, as the registry:2 image's entrypoint does with a .yml
        // first argument (the image's CMD is the config's path).
        defaultSubcommand: Serve.self
    )

    static func main() async {
        await main(GarbageCollect.registry2Flags(Array(CommandLine.arguments.dropFirst())))
    }
}
