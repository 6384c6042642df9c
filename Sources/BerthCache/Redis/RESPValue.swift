internal import NIOCore

/// A value of the Redis serialization protocol (RESP2), as replies arrive.
enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    /// nil: the null bulk string (a missing key).
    case bulkString([UInt8]?)
    /// nil: the null array.
    case array([RESPValue]?)

    /// The reply as text, for `GET`: nil for a missing key.
    var text: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes?): String(decoding: bytes, as: UTF8.self)
        case .integer(let number): String(number)
        default: nil
        }
    }

    /// A command as Redis reads it: an array of bulk strings.
    static func encode(_ arguments: [String], into buffer: inout ByteBuffer) {
        buffer.writeString("*\(arguments.count)\r\n")
        for argument in arguments {
            buffer.writeString("$\(argument.utf8.count)\r\n")
            buffer.writeString(argument)
            buffer.writeString("\r\n")
        }
    }

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// Replies are bounded so that a confused or hostile server cannot make Berth allocate
    /// without limit (a descriptor is a few dozen bytes).
    static let maximumBulk = 1 << 20
    static let maximumElements = 1 << 16

    /// Reads one whole value from `buffer`, moving its reader index past it; nil (and the
    /// buffer untouched) while the value has not fully arrived.
    static func parse(_ buffer: inout ByteBuffer) throws -> RESPValue? {
        var copy = buffer
        guard let value = try parseValue(&copy, depth: 0) else { return nil }
        buffer = copy
        return value
    }

    private static func parseValue(_ buffer: inout ByteBuffer, depth: Int) throws -> RESPValue? {
        guard depth < 8 else { throw Malformed(description: "replies nested too deep") }
        guard let kind = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        var rest = buffer
        rest.moveReaderIndex(forwardBy: 1)
        guard let line = readLine(&rest) else { return nil }
        let value: RESPValue
        switch kind {
        case UInt8(ascii: "+"): value = .simpleString(line)
        case UInt8(ascii: "-"): value = .error(line)
        case UInt8(ascii: ":"):
            guard let number = Int64(line) else { throw Malformed(description: "integer \(line)") }
            value = .integer(number)
        case UInt8(ascii: "$"):
            guard let length = Int(line), length >= -1, length <= maximumBulk else {
                throw Malformed(description: "bulk length \(line)")
            }
            if length == -1 {
                value = .bulkString(nil)
            } else {
                guard rest.readableBytes >= length + 2, let bytes = rest.readBytes(length: length) else { return nil }
                guard rest.readBytes(length: 2) == [13, 10] else { throw Malformed(description: "bulk string end") }
                value = .bulkString(bytes)
            }
        case UInt8(ascii: "*"):
            guard let count = Int(line), count >= -1, count <= maximumElements else {
                throw Malformed(description: "array length \(line)")
            }
            if count == -1 {
                value = .array(nil)
            } else {
                var elements: [RESPValue] = []
                elements.reserveCapacity(count)
                for _ in 0..<count {
                    guard let element = try parseValue(&rest, depth: depth + 1) else { return nil }
                    elements.append(element)
                }
                value = .array(elements)
            }
        default:
            throw Malformed(description: "reply type \(kind)")
        }
        buffer = rest
        return value
    }

    /// A line up to CRLF, without it; nil until the CRLF has arrived.
    private static func readLine(_ buffer: inout ByteBuffer) -> String? {
        let view = buffer.readableBytesView
        guard let cr = view.firstIndex(of: 13), view.index(after: cr) < view.endIndex,
            view[view.index(after: cr)] == 10
        else {
            return nil
        }
        let line = buffer.readString(length: cr - view.startIndex) ?? ""
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }
}
