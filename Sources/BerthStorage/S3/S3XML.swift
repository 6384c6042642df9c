internal import Foundation

/// The little XML that S3 answers with (listings, upload ids, parts, errors): elements and
/// their text, no attributes, no namespaces. Machine-written and flat, so a small scanner
/// reads it; Foundation's XMLParser would add libxml2 to the binary's run-time dependencies.
struct S3XML: Sendable {
    let name: String
    var text = ""
    var children: [S3XML] = []

    /// The first child called `name`.
    func child(_ name: String) -> S3XML? { children.first { $0.name == name } }

    /// Every child called `name`, in order.
    func children(_ name: String) -> [S3XML] { children.filter { $0.name == name } }

    /// The text of the first child called `name`.
    func value(_ name: String) -> String? { child(name)?.text }

    struct Malformed: Error {}

    /// The document's root element.
    static func parse(_ bytes: [UInt8]) throws -> S3XML {
        var stack: [S3XML] = []
        var root: S3XML?
        var i = 0
        while i < bytes.count {
            if bytes[i] != UInt8(ascii: "<") {
                let start = i
                while i < bytes.count, bytes[i] != UInt8(ascii: "<") { i += 1 }
                if !stack.isEmpty { stack[stack.count - 1].text += decode(bytes[start..<i]) }
                continue
            }
            guard let end = bytes[i...].firstIndex(of: UInt8(ascii: ">")) else { throw Malformed() }
            let tag = bytes[(i + 1)..<end]
            i = end + 1
            guard let first = tag.first else { throw Malformed() }
            if first == UInt8(ascii: "?") || first == UInt8(ascii: "!") { continue }  // declaration, comment
            if first == UInt8(ascii: "/") {
                let closing = String(decoding: tag.dropFirst(), as: UTF8.self).trimmingCharacters(in: .whitespaces)
                guard var element = stack.popLast(), element.name == closing else { throw Malformed() }
                element.text = element.children.isEmpty ? element.text : ""
                if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
                continue
            }
            let selfClosing = tag.last == UInt8(ascii: "/")
            let nameEnd =
                tag.firstIndex { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "/") || $0 == 9 || $0 == 10 || $0 == 13 }
                ?? tag.endIndex
            let element = S3XML(name: String(decoding: tag[tag.startIndex..<nameEnd], as: UTF8.self))
            if selfClosing {
                if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
            } else {
                stack.append(element)
            }
        }
        guard let root, stack.isEmpty else { throw Malformed() }
        return root
    }

    /// Text with XML's entities replaced.
    static func decode(_ bytes: ArraySlice<UInt8>) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[rest.startIndex..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else {
                out += rest[amp...]
                return out
            }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let number =
                    entity.hasPrefix("#x")
                    ? UInt32(entity.dropFirst(2), radix: 16) : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                if let number, let scalar = Unicode.Scalar(number) {
                    out.unicodeScalars.append(scalar)
                } else {
                    out += rest[amp...semi]
                }
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }

    /// Text made safe to put between tags.
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}
