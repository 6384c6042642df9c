internal import NIOHTTP1
internal import OCI

/// The one table from domain failures to HTTP: the status and headers each error code and
/// condition is answered with (house rule 4; distribution keeps the same in `errcode/register.go`).
/// Nothing else in Berth picks an error's status.
enum ErrorStatus {
    static func status(_ error: RegistryError) -> HTTPResponseStatus {
        switch error.condition {
        case .tooLarge: return .payloadTooLarge
        case .noSuchEndpoint: return .notFound
        case .uploadHolds, .outsideBlob: return .rangeNotSatisfiable
        case .upstreamFailed: return .badGateway
        case nil: return status(error.code)
        }
    }

    /// The spec's status for a code used without a more specific condition.
    static func status(_ code: ErrorCode) -> HTTPResponseStatus {
        switch code {
        case .blobUnknown, .blobUploadUnknown, .manifestUnknown, .nameUnknown: .notFound
        case .unauthorized: .unauthorized
        case .denied: .forbidden
        case .unsupported: .methodNotAllowed
        case .tooManyRequests: .tooManyRequests
        case .rangeInvalid: .rangeNotSatisfiable
        case .unavailable: .serviceUnavailable
        case .unknown: .internalServerError
        case .blobUploadInvalid, .digestInvalid, .manifestBlobUnknown, .manifestInvalid, .nameInvalid, .sizeInvalid,
            .tagInvalid, .paginationNumberInvalid:
            .badRequest
        }
    }

    /// Headers the condition tells the client with (where an upload or a blob stands).
    static func headers(_ error: RegistryError) -> HTTPHeaders {
        switch error.condition {
        case .uploadHolds(let size): ["Range": ChunkRange.header(uploadSize: size)]
        case .outsideBlob(let size): ["Content-Range": "bytes */\(size)"]
        default: [:]
        }
    }
}
