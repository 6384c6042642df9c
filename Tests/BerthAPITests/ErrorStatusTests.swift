import BerthHTTP
import NIOHTTP1
import OCI
import Testing

@testable import BerthAPI

/// The one table from domain failures to statuses and headers.
@Suite struct ErrorStatusTests {
    @Test func everyCodeHasTheSpecStatus() {
        let expected: [ErrorCode: HTTPResponseStatus] = [
            .blobUnknown: .notFound, .manifestUnknown: .notFound, .nameUnknown: .notFound,
            .blobUploadUnknown: .notFound, .unauthorized: .unauthorized, .denied: .forbidden,
            .unsupported: .methodNotAllowed, .tooManyRequests: .tooManyRequests, .rangeInvalid: .rangeNotSatisfiable,
            .unavailable: .serviceUnavailable, .unknown: .internalServerError, .digestInvalid: .badRequest,
            .manifestInvalid: .badRequest, .nameInvalid: .badRequest, .sizeInvalid: .badRequest,
        ]
        for (code, status) in expected {
            #expect(ErrorStatus.status(RegistryError(code)) == status, "\(code)")
        }
    }

    @Test func conditionsChooseStatusAndHeaders() {
        let tooLarge = RegistryError(.sizeInvalid, condition: .tooLarge)
        #expect(ErrorStatus.status(tooLarge) == .payloadTooLarge)
        #expect(ErrorStatus.status(RegistryError(.unsupported, condition: .noSuchEndpoint)) == .notFound)

        let offset = RegistryError(.rangeInvalid, condition: .uploadHolds(size: 10))
        #expect(ErrorStatus.headers(offset)["Range"] == ["0-9"])
        let outside = RegistryError(.rangeInvalid, condition: .outsideBlob(size: 10))
        #expect(ErrorStatus.headers(outside)["Content-Range"] == ["bytes */10"])
        let response = ErrorResponse.make(offset, headers: ["Location": "/v2/a/blobs/uploads/x"])
        #expect(response.status == .rangeNotSatisfiable)
        #expect(response.headers["Range"] == ["0-9"] && response.headers["Location"] == ["/v2/a/blobs/uploads/x"])
    }
}
