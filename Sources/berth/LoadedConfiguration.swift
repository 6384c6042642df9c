import ArgumentParser
import BerthConfig
import Foundation
import Logging

/// The configuration a subcommand runs with, as `registry` reads it: the file given (or
/// `REGISTRY_CONFIGURATION_PATH`, or the embedded default), with `REGISTRY_*` overrides; and
/// logging set up by its `log` section.
enum LoadedConfiguration {
    static func load(_ path: String?) throws -> (ConfigurationLoader.Loaded, Logger) {
        let environment = ProcessInfo.processInfo.environment
        let loaded: ConfigurationLoader.Loaded
        do {
            loaded = try ConfigurationLoader.load(
                path: path ?? environment["REGISTRY_CONFIGURATION_PATH"], environment: environment)
        } catch let error as ConfigError {
            throw refuse(error)
        }
        let log = loaded.configuration.log
        LoggingSystem.bootstrap { label in BerthLogHandler(label: label, configuration: log) }
        let logger = Logger(label: "berth")
        for warning in loaded.warnings { logger.warning("\(warning)") }
        return (loaded, logger)
    }

    /// Says what is wrong with the configuration and stops.
    static func refuse(_ error: ConfigError) -> ExitCode {
        FileHandle.standardError.write(Data("berth: configuration error: \(error)\n".utf8))
        return ExitCode(1)
    }
}
