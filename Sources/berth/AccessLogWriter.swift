import BerthConfig
import BerthHTTP
import Foundation

/// The access log, as registry:2 keeps it: a stream of its own on standard output, apart from
/// the other log lines (which go to standard error and honour `log.level`), and switched off
/// only by `log.accesslog.disabled`.
///
/// With the text formatter a line is in the Apache combined format registry:2 writes
/// (`host - - [time] "GET /v2/ HTTP/1.1" 200 2 "referer" "agent"`), so existing log parsers
/// keep working; with `json`/`logstash` it is one JSON object with the same facts, the request
/// id and `log.fields`.
struct AccessLogWriter: Sendable {
    let formatter: Configuration.Log.Formatter
    let fields: [(String, String)]

    init(_ configuration: Configuration.Log) {
        self.formatter = configuration.formatter
        self.fields = configuration.fields
    }

    func write(_ record: AccessRecord) {
        let line =
            switch formatter {
            case .text: Self.combined(record)
            case .json, .logstash: json(record)
            }
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func combined(_ record: AccessRecord) -> String {
        let host = record.remote.split(separator: ":").dropLast().joined(separator: ":")
        return
            "\(host.isEmpty ? record.remote : host) - - [\(clfTime(record.received))] "
            + "\"\(record.method) \(record.uri) \(record.version)\" \(record.status) \(record.bytesOut) "
            + "\(quoted(record.referer)) \(quoted(record.userAgent))"
    }

    func json(_ record: AccessRecord) -> String {
        var object: [String: String] = [
            "msg": "\(record.method) \(record.uri) \(record.status)",
            "time": Date(timeIntervalSince1970: record.received).formatted(
                Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            "request_id": record.requestID, "method": record.method, "path": record.uri,
            "status": String(record.status), "bytes_in": String(record.bytesIn), "bytes_out": String(record.bytesOut),
            "duration_ms": String(record.durationMilliseconds), "remote": record.remote,
            "user_agent": record.userAgent,
        ]
        for (key, value) in fields { object[key] = value }
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// `02/Dec/2026:04:01:40 +0000`: the common log format's time, in local time with its offset.
    static func clfTime(_ seconds: Double) -> String {
        var time = time_t(seconds)
        var parts = tm()
        localtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%d/%b/%Y:%H:%M:%S %z", &parts)
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A quoted field, with quotes and backslashes escaped so that a client cannot forge a line.
    static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f: out += "\\x" + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
