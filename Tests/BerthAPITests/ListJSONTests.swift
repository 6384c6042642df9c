import Foundation
import NIOCore
import Testing

@testable import BerthAPI

@Suite struct ListJSONTests {
    func decode(_ buffer: ByteBuffer) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? NSDictionary)
    }

    @Test func plainNamesInOrder() throws {
        let body = ListJSON.object(["name": .string("team/app"), "tags": .strings(["1.0", "latest"])])
        #expect(String(buffer: body) == #"{"name":"team/app","tags":["1.0","latest"]}"#)
        #expect(String(buffer: ListJSON.object(["repositories": .strings([])])) == #"{"repositories":[]}"#)
    }

    @Test func namesFromDiskAreEscaped() throws {
        let odd = ["quote\"d", "back\\slash", "new\nline", "bell\u{07}", "café"]
        let decoded = try decode(ListJSON.object(["repositories": .strings(["plain"] + odd)]))
        #expect(decoded["repositories"] as? [String] == ["plain"] + odd)
    }
}
