/// `storage.s3`, with registry:2's keys, meanings and defaults.
public struct S3Storage: Sendable, Equatable {
    public var bucket: String
    public var region: String
    /// `regionendpoint`: an S3-compatible server instead of AWS.
    public var regionEndpoint: String?
    public var forcePathStyle = false
    /// `accesskey`, `secretkey`, `sessiontoken`; when absent, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?
    public var secure = true
    public var skipVerify = false
    public var chunkSize = 10 << 20
    public var multipartCopyChunkSize: Int64 = 32 << 20
    public var multipartCopyMaxConcurrency = 100
    public var multipartCopyThresholdSize: Int64 = 32 << 20
    public var rootDirectory = ""
    /// nil for `NONE`: the header is left out (servers that know no storage classes).
    public var storageClass: String? = "STANDARD"
    public var encrypt = false
    public var keyID: String?

    static let storageClasses = [
        "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "NONE",
    ]
}

extension ConfigurationLoader {
    static func decodeS3(
        _ reader: ConfigReader, environment: [String: String], warnings: inout [String]
    ) throws
        -> S3Storage
    {
        func required(_ key: String) throws -> String {
            guard let value = try reader.string("storage.s3.\(key)"), !value.isEmpty else {
                throw ConfigError(key: "storage.s3.\(key)", message: "is required for the s3 storage driver")
            }
            return value
        }
        func size(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            try reader.int("storage.s3.\(key)", range: range)
        }
        let bucket = try required("bucket")
        let region = try required("region")
        // Credentials from the configuration, else from the environment, as the AWS SDK does.
        let accessKey = try reader.string("storage.s3.accesskey").flatMap { $0.isEmpty ? nil : $0 }
        let secretKey = try reader.string("storage.s3.secretkey").flatMap { $0.isEmpty ? nil : $0 }
        guard let access = accessKey ?? environment["AWS_ACCESS_KEY_ID"],
            let secret = secretKey ?? environment["AWS_SECRET_ACCESS_KEY"]
        else {
            throw ConfigError(
                key: "storage.s3.accesskey",
                message:
                    "no S3 credentials: set storage.s3.accesskey and secretkey, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (instance roles are not supported yet)"
            )
        }
        var s3 = S3Storage(bucket: bucket, region: region, accessKey: access, secretKey: secret)
        s3.sessionToken =
            try reader.string("storage.s3.sessiontoken").flatMap { $0.isEmpty ? nil : $0 }
            ?? (accessKey == nil ? environment["AWS_SESSION_TOKEN"] : nil)
        s3.regionEndpoint = try reader.string("storage.s3.regionendpoint").flatMap { $0.isEmpty ? nil : $0 }
        s3.forcePathStyle = try reader.bool("storage.s3.forcepathstyle") ?? false
        s3.secure = try reader.bool("storage.s3.secure") ?? true
        s3.skipVerify = try reader.bool("storage.s3.skipverify") ?? false
        s3.encrypt = try reader.bool("storage.s3.encrypt") ?? false
        s3.keyID = try reader.string("storage.s3.keyid").flatMap { $0.isEmpty ? nil : $0 }
        s3.rootDirectory = try reader.string("storage.s3.rootdirectory") ?? ""
        let fiveMiB = 5 << 20
        let fiveGiB = 5 << 30
        s3.chunkSize = try size("chunksize", fiveMiB...fiveGiB) ?? s3.chunkSize
        s3.multipartCopyChunkSize =
            Int64(try size("multipartcopychunksize", fiveMiB...fiveGiB) ?? Int(s3.multipartCopyChunkSize))
        s3.multipartCopyMaxConcurrency =
            try size("multipartcopymaxconcurrency", 1...1000) ?? s3.multipartCopyMaxConcurrency
        s3.multipartCopyThresholdSize =
            Int64(try size("multipartcopythresholdsize", 0...fiveGiB) ?? Int(s3.multipartCopyThresholdSize))
        if let storageClass = try reader.string("storage.s3.storageclass") {
            guard S3Storage.storageClasses.contains(storageClass) else {
                throw ConfigError(
                    key: "storage.s3.storageclass",
                    message: "must be one of \(S3Storage.storageClasses.joined(separator: ", ")), not \(storageClass)")
            }
            s3.storageClass = storageClass == "NONE" ? nil : storageClass
        }
        if try reader.bool("storage.s3.v4auth") == false {
            throw ConfigError(key: "storage.s3.v4auth", message: "only AWS Signature Version 4 is supported")
        }
        // Accepted as registry:2 accepts them; what would change nothing here is not said.
        _ = reader.value("storage.s3.useragent")
        _ = reader.value("storage.s3.loglevel")
        if let acl = try reader.string("storage.s3.objectacl"), acl != "private" {
            warnings.append("storage.s3.objectacl \(acl) is ignored: objects get the bucket's default ACL")
        }
        for key in ["usedualstack", "accelerate"] where try reader.bool("storage.s3.\(key)") == true {
            warnings.append("storage.s3.\(key) is ignored: requests go to the region's endpoint")
        }
        return s3
    }
}
