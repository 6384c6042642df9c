internal import NIOCore

/// The JSON of list responses (`tags/list`, `_catalog`), written directly: a list can hold
/// thousands of names, and going through `JSONSerialization` cost more than reading them from
/// disk. Keys keep the order given, which is the order registry:2 writes them in.
enum ListJSON {
    enum Value {
        case string(String)
        case strings([String])
    }

    static func object(_ members: KeyValuePairs<String, Value>) -> ByteBuffer {
        var out = "{"
        for (index, (key, value)) in members.enumerated() {
            if index > 0 { out += "," }
            out += quoted(key) + ":"
            switch value {
            case .string(let text):
                out += quoted(text)
            case .strings(let texts) where texts.allSatisfy(isPlain):
                // The common case, in one pass that sizes the result first.
                out += texts.isEmpty ? "[]" : "[\"" + texts.joined(separator: "\",\"") + "\"]"
            case .strings(let texts):
                out += "[" + texts.map(quoted).joined(separator: ",") + "]"
            }
        }
        return ByteBuffer(string: out + "}")
    }

    /// Whether a string can go between quotes as it is. Tags and repository names always can;
    /// catalog names come from directory names on disk, which may hold anything.
    static func isPlain(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            !bytes.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
        }
    }

    /// A JSON string literal. Every character JSON escapes is ASCII, so escaping scalar by
    /// scalar keeps the rest intact.
    static func quoted(_ text: String) -> String {
        guard !isPlain(text) else { return "\"" + text + "\"" }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
