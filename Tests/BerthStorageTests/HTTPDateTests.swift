import Foundation
import Testing

@testable import BerthStorage

/// `Last-Modified` as S3 sends it, read without a `DateFormatter`, against the dates
/// Foundation's formatter gives for the same text.
@Suite struct HTTPDateTests {
    @Test func imfFixdatesAreReadAsFoundationReadsThem() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT", "Thu, 03 Dec 2026 17:53:58 GMT", "Tue, 29 Feb 2028 23:59:59 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT",
        ] {
            #expect(HTTPDate.seconds(text[...]) == formatter.date(from: text)?.timeIntervalSince1970, "\(text)")
        }
        #expect(HTTPDate.seconds("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
    }

    @Test func anythingElseIsNotADate() {
        for text in [
            "", "yesterday", "Sun, 06 Nov 1994 08:49:37 UTC", "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:49 GMT",
        ] {
            #expect(HTTPDate.seconds(text[...]) == nil, "\(text)")
        }
        #expect(S3Client.date(nil) == 0 && S3Client.date("garbage") == 0)
    }
}
