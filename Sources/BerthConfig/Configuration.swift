/// registry:2's configuration, typed. Only what Berth serves is here; `ConfigurationLoader`
/// refuses sections that are not supported yet rather than ignoring them.
public struct Configuration: Sendable {
    public struct Log: Sendable {
        public enum Level: String, Sendable { case error, warn, info, debug }
        public enum Formatter: String, Sendable { case text, json, logstash }
        public var level: Level = .info
        public var formatter: Formatter = .text
        public var fields: [(String, String)] = []
        public var accessLogDisabled = false
    }

    public struct Storage: Sendable {
        public enum Driver: Sendable, Equatable {
            case filesystem(rootDirectory: String)
            case s3(S3Storage)
        }

        public var driver: Driver
        /// The filesystem driver's root directory; nil for other drivers.
        public var rootDirectory: String? {
            if case .filesystem(let root) = driver { root } else { nil }
        }
        public var deleteEnabled = false
        public var redirectDisabled = false
        public var readOnly = false
        public var uploadPurging = UploadPurging()
        /// `storage.maintenance.garbagecollect.graceperiod` (Berth): `berth garbage-collect`
        /// keeps unreferenced blobs and untagged manifests younger than this.
        public var garbageCollectGracePeriod: Duration = .seconds(3600)
        /// `storage.cache.blobdescriptor`: none when the key is absent, as in registry:2.
        public var blobDescriptorCache = BlobDescriptorCache.none
        /// `storage.cache.localblobs` (Berth): off unless configured.
        public var localBlobs: LocalBlobs?
    }

    /// Hot blobs kept on local disk in front of a driver that is not (S3), so that a replica
    /// serving bytes itself sends them from a local file.
    public struct LocalBlobs: Sendable, Equatable {
        public var directory: String
        /// Bytes the cached blobs may take; the least recently used go first beyond it.
        public var maxSize: Int64

        public init(directory: String, maxSize: Int64) {
            self.directory = directory
            self.maxSize = maxSize
        }
    }

    public enum BlobDescriptorCache: Sendable, Equatable {
        case none
        /// `inmemory`, holding at most `size` descriptors and as many links
        /// (`storage.cache.blobdescriptorsize`).
        case inMemory(size: Int)
        /// `redis`, with the top-level `redis:` section.
        case redis(Redis)

        /// The key's value: `none`, `inmemory` or `redis`.
        public var name: String {
            switch self {
            case .none: "none"
            case .inMemory: "inmemory"
            case .redis: "redis"
            }
        }
    }

    /// registry:2's `redis:` section.
    public struct Redis: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var username: String?
        public var password: String?
        public var db = 0
        public var dialTimeout: Duration?
        public var readTimeout: Duration?
        public var writeTimeout: Duration?
        public var maxIdle = 16
        public var maxActive = 0
        public var idleTimeout: Duration = .seconds(300)
        public var tls = false
    }

    /// `storage.maintenance.uploadpurging`, parsed for compatibility.
    public struct UploadPurging: Sendable {
        public var enabled = true
        public var age: Duration = .seconds(168 * 3600)
        public var interval: Duration = .seconds(24 * 3600)
        public var dryRun = false
    }

    public struct TLS: Sendable {
        public var certificate: String
        public var key: String
        public var clientCAs: [String] = []
        public var minimumTLS: String?
    }

    public struct HTTP: Sendable {
        /// Every interface, as registry:2's `:5000` means, unless `http.addr` names one.
        public var host: String = "0.0.0.0"
        public var port: Int = 5000
        public var prefix: String = ""
        /// `http.host`: the externally visible base URL, used for absolute `Location`s.
        public var externalURL: String?
        public var secret: String?
        public var relativeURLs = false
        public var tls: TLS?
        public var headers: [(String, String)] = []
        /// `http.draintimeout`: how long in-flight requests may take after SIGTERM.
        public var drainTimeout: Duration = .seconds(30)
        /// `http.idletimeout` (Berth): idle and slow-client timeout of a connection.
        public var idleTimeout: Duration = .seconds(60)
        /// `http.debug.addr`: the debug listener (health, readiness, the mirror's counters),
        /// apart from the API so that it can stay closed to clients; nil when not configured.
        public var debug: (host: String, port: Int)?
        /// `http.debug.prometheus.path` when `http.debug.prometheus.enabled`: where the debug
        /// listener serves metrics; nil when it does not.
        public var prometheusPath: String?
    }

    public struct Validation: Sendable {
        public var disabled = false
        public var urlsAllow: [String] = []
        public var urlsDeny: [String] = []
    }

    public var log = Log()
    public var auth = Auth()
    public var storage: Storage
    public var http = HTTP()
    public var catalogMaxEntries = 1000
    public var validation = Validation()
    public var mirror = Mirror()
    public var notifications = Notifications()

    public init(rootDirectory: String) {
        storage = Storage(driver: .filesystem(rootDirectory: rootDirectory))
    }

    public init(storage driver: Storage.Driver) {
        storage = Storage(driver: driver)
    }
}
