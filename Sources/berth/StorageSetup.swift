import AsyncHTTPClient
import BerthConfig
import BerthStorage
import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// The storage driver the configuration names, and what it needs kept alive beside it.
struct StorageSetup {
    let driver: any StorageDriver
    /// The S3 driver's HTTP client, shut down after the server (a `Service` of its own).
    let client: HTTPClient?
    /// What the start-up line says of it.
    let metadata: Logger.Metadata

    /// `make`, or the configuration error said and the command stopped.
    static func start(
        _ storage: Configuration.Storage, walkingOnce: Bool = false, logger: Logger
    ) throws
        -> StorageSetup
    {
        do {
            return try make(storage, walkingOnce: walkingOnce, logger: logger)
        } catch let error as ConfigError {
            throw LoadedConfiguration.refuse(error)
        }
    }

    /// `walkingOnce`: for a command that reads each directory once (garbage collection), so
    /// that the filesystem driver keeps no listings.
    static func make(
        _ storage: Configuration.Storage, walkingOnce: Bool = false, logger: Logger
    ) throws
        -> StorageSetup
    {
        switch storage.driver {
        case .filesystem(let rootDirectory):
            let root = URL(fileURLWithPath: rootDirectory).standardizedFileURL.path
            do {
                try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            } catch {
                throw ConfigError(
                    key: "storage.filesystem.rootdirectory",
                    message: "cannot create \(root): \(error.localizedDescription)")
            }
            return StorageSetup(
                driver: FilesystemDriver(root: root, cachingListings: !walkingOnce), client: nil,
                metadata: ["storage": "filesystem", "rootdirectory": "\(root)"])
        case .s3(let s3):
            var tls = TLSConfiguration.makeClientConfiguration()
            if s3.skipVerify { tls.certificateVerification = .none }
            var http = HTTPClient.Configuration(
                tlsConfiguration: tls, redirectConfiguration: .disallow,
                timeout: HTTPClient.Configuration.Timeout(connect: .seconds(10), read: .seconds(120)))
            // A download streams from S3 for as long as its client takes to read it, holding a
            // connection: the pool must not be what slow clients make everyone else wait for.
            http.connectionPool = HTTPClient.Configuration.ConnectionPool(
                idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1024)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
            var options = S3DriverOptions()
            options.rootDirectory = s3.rootDirectory
            options.chunkSize = s3.chunkSize
            options.multipartCopyChunkSize = s3.multipartCopyChunkSize
            options.multipartCopyMaxConcurrency = s3.multipartCopyMaxConcurrency
            options.multipartCopyThresholdSize = s3.multipartCopyThresholdSize
            options.storageClass = s3.storageClass
            options.encrypt = s3.encrypt
            options.keyID = s3.keyID
            let driver: S3Driver
            do {
                driver = try S3Driver(
                    http: client,
                    location: S3Location(
                        bucket: s3.bucket, region: s3.region, endpoint: s3.regionEndpoint,
                        forcePathStyle: s3.forcePathStyle, secure: s3.secure),
                    credentials: S3Credentials(
                        accessKey: s3.accessKey, secretKey: s3.secretKey, sessionToken: s3.sessionToken),
                    options: options, logger: logger)
            } catch {
                try? client.syncShutdown()
                throw ConfigError(key: "storage.s3.regionendpoint", message: "\(error)")
            }
            return StorageSetup(
                driver: driver, client: client,
                metadata: [
                    "storage": "s3", "bucket": "\(s3.bucket)", "region": "\(s3.region)",
                    "endpoint": "\(s3.regionEndpoint ?? "aws")", "rootdirectory": "\(s3.rootDirectory)",
                ])
        }
    }
}

/// Keeps an HTTP client until shutdown, then closes it.
struct HTTPClientService: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
