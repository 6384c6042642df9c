internal import BerthHTTP
internal import Foundation
internal import Logging
internal import NIOCore
internal import NIOHTTP1
internal import OCI

/// The one place where failures become responses (house rule 4): an OCI error body with the
/// status `ErrorStatus` gives, or — for anything that is not the client's fault — a logged 500.
enum ErrorResponse {
    static func make(_ error: RegistryError, headers extra: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = HTTPHeaders([("Content-Type", "application/json; charset=utf-8")])
        for (name, value) in ErrorStatus.headers(error) { headers.replaceOrAdd(name: name, value: value) }
        for (name, value) in extra { headers.replaceOrAdd(name: name, value: value) }
        return HTTPResponse(
            status: ErrorStatus.status(error), headers: headers, body: .bytes(ByteBuffer(string: body(error))))
    }

    /// `{"errors":[{"code":…,"message":…,"detail":…}]}`
    static func body(_ error: RegistryError) -> String {
        var entry: [String: Any] = ["code": error.code.rawValue, "message": error.message]
        if !error.detail.isEmpty { entry["detail"] = error.detail }
        let data =
            (try? JSONSerialization.data(
                withJSONObject: ["errors": [entry]], options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Maps any failure of a handler to a response.
    static func make(_ error: any Error, logger: Logger, requestID: String) -> HTTPResponse {
        switch error {
        case let error as RegistryError:
            if ErrorStatus.status(error).code >= 500 {
                logger.error("request failed", metadata: ["request_id": "\(requestID)", "error": "\(error)"])
            }
            return make(error)
        case RequestBodyError.truncated:
            return make(RegistryError(.sizeInvalid, "request body ended before its announced length"))
        case is CancellationError:
            // Shutdown's drain time ran out while this request was in flight.
            logger.info("request cancelled by shutdown", metadata: ["request_id": "\(requestID)"])
            return make(RegistryError(.unavailable, "the registry is shutting down; retry"))
        default:
            logger.error("request failed", metadata: ["request_id": "\(requestID)", "error": "\(error)"])
            return make(RegistryError(.unknown, "internal error; see the server log for request \(requestID)"))
        }
    }

    /// Bodies for errors the HTTP layer answers itself (unparseable requests), with the status
    /// that layer chose.
    @Sendable static func protocolError(status: Int, message: String) -> (contentType: String, body: String) {
        let code: ErrorCode = status == 414 ? .nameInvalid : .unsupported
        return ("application/json; charset=utf-8", body(RegistryError(code, message)))
    }
}
