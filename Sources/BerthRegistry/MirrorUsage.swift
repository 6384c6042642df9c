internal import BerthStorage
internal import Foundation
public import OCI

/// When each piece of mirrored content was last used, per upstream: one small record per
/// digest in storage (`_berth/mirror-usage/<upstream>/<alg>/<hex>`), so that every replica on
/// the same storage sees the same ages and a restart forgets none.
///
/// A use is written only when the record is older than `resolution`, so that a busy blob costs
/// one small write a minute, not one per pull. The memory of what was written is that
/// throttle only; the ages themselves are always read from storage.
public actor MirrorUsage {
    public struct Record: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable { case blob, manifest }
        /// Seconds since 1970 of the last use.
        public var used: Double
        public var size: Int64
        public var kind: Kind

        public init(used: Double, size: Int64, kind: Kind) {
            self.used = used
            self.size = size
            self.kind = kind
        }
    }

    let storage: RegistryStorage
    private var written: [String: Double] = [:]

    init(storage: RegistryStorage) { self.storage = storage }

    /// Records a use of `digest` in `upstream`'s cache now, unless one was written less than
    /// `resolution` seconds ago.
    public func touch(
        _ upstream: String, _ digest: Digest, _ kind: Record.Kind, size: Int64, resolution: Double,
        now: Double? = nil
    ) async throws {
        let now = now ?? Date().timeIntervalSince1970
        let path = storage.layout.mirrorUsageRecord(upstream, digest)
        if let last = written[path], now - last < resolution { return }
        // The throttle's memory only grows with distinct digests; starting it over costs one
        // write per digest.
        if written.count > 100_000 { written.removeAll() }
        written[path] = now
        let record = Record(used: now, size: size, kind: kind)
        try await storage.driver.putContent(path, Array(try JSONEncoder().encode(record)))
    }

    public func record(_ upstream: String, _ digest: Digest) async throws -> Record? {
        do {
            let bytes = try await storage.driver.getContent(storage.layout.mirrorUsageRecord(upstream, digest))
            return try? JSONDecoder().decode(Record.self, from: Data(bytes))
        } catch StorageError.notFound {
            return nil
        }
    }

    /// Every record of `upstream`'s cache. A record that cannot be read counts as absent (the
    /// sweep writes it anew).
    public func records(_ upstream: String) async throws -> [Digest: Record] {
        var result: [Digest: Record] = [:]
        for algorithm in Digest.Algorithm.allCases {
            let directory = "\(storage.layout.mirrorUsage(upstream))/\(algorithm.rawValue)"
            for hex in try await storage.listIfPresent(directory) {
                guard let digest = try? Digest(algorithm: algorithm, hex: hex),
                    let record = try await record(upstream, digest)
                else { continue }
                result[digest] = record
            }
        }
        return result
    }

    public func remove(_ upstream: String, _ digest: Digest) async throws {
        let path = storage.layout.mirrorUsageRecord(upstream, digest)
        written[path] = nil
        try await storage.deleteIfPresent(path)
    }
}
