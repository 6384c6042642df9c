import BerthConfig
import Foundation
import Logging

/// Log lines on stderr in registry:2's shapes: logrus-style text (`time=… level=… msg=…`) or
/// one JSON object per line (`log.formatter: json`/`logstash`), with `log.fields` on every line.
struct BerthLogHandler: LogHandler {
    let label: String
    let formatter: Configuration.Log.Formatter
    let fields: [(String, String)]
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, configuration: Configuration.Log) {
        self.label = label
        self.formatter = configuration.formatter
        self.fields = configuration.fields
        self.logLevel =
            switch configuration.level {
            case .error: .error
            case .warn: .warning
            case .info: .info
            case .debug: .debug
            }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let time = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        var pairs: [(String, String)] = [
            ("time", time), ("level", Self.levelName(event.level)), ("msg", "\(event.message)"),
        ]
        pairs.append(contentsOf: fields)
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for key in merged.keys.sorted() { pairs.append((key, "\(merged[key]!)")) }
        let line: String
        switch formatter {
        case .text:
            line = pairs.map { "\($0.0)=\(Self.quoteIfNeeded($0.1))" }.joined(separator: " ")
        case .json, .logstash:
            var object: [String: String] = [:]
            for (key, value) in pairs { object[key] = value }
            let data =
                (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
                ?? Data()
            line = String(decoding: data, as: UTF8.self)
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: "debug"
        case .info, .notice: "info"
        case .warning: "warning"
        case .error: "error"
        case .critical: "fatal"
        }
    }

    static func quoteIfNeeded(_ value: String) -> String {
        let plain = !value.isEmpty && value.allSatisfy { $0.isLetter || $0.isNumber || "-._/:@+".contains($0) }
        if plain { return value }
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\"\(escaped)\""
    }
}
