internal import BerthCache
internal import BerthStorage
internal import Foundation
public import OCI

/// A manifest as stored: its bytes as pushed, the digest they hash to, and their media type.
public struct StoredManifest: Sendable {
    public let digest: Digest
    public let mediaType: String
    public let bytes: [UInt8]

    public init(digest: Digest, mediaType: String, bytes: [UInt8]) {
        self.digest = digest
        self.mediaType = mediaType
        self.bytes = bytes
    }
}

/// What a successful manifest push reports back.
public struct PushedManifest: Sendable {
    public let digest: Digest
    public let subject: Digest?
}

/// Manifests of repositories: their bytes as blobs, linked as revisions, named by tags.
struct ManifestStore: Sendable {
    let storage: RegistryStorage
    let blobs: BlobStore
    let tags: TagStore
    /// `validation.manifests.urls`: which foreign-layer URLs a manifest may carry.
    let foreignLayerURLs: ForeignLayerPolicy
    /// Forgets what it holds of a manifest deleted here.
    let held: HeldManifests?

    var layout: RegistryLayout { storage.layout }

    /// The digest a reference names in the repository.
    func resolve(_ name: RepositoryName, _ reference: Reference) async throws -> Digest {
        switch reference {
        case .tag(let tag):
            guard let digest = try await tags.digest(name, tag) else {
                throw RegistryError(
                    .manifestUnknown, "manifest unknown: no tag \(tag) in \(name)", detail: ["Tag": tag.value])
            }
            return digest
        case .digest(let digest):
            guard try await storage.isLinked(name, digest, as: .manifest) else {
                throw RegistryError(.manifestUnknown, detail: ["Digest": digest.description])
            }
            return digest
        }
    }

    func manifest(_ name: RepositoryName, _ reference: Reference) async throws -> StoredManifest {
        let digest = try await resolve(name, reference)
        let bytes: [UInt8]
        do {
            bytes = try await storage.driver.getContent(layout.blobData(digest))
        } catch StorageError.notFound {
            // Set aside by a garbage collection that has not yet seen the link (`BlobStore.aside`).
            guard let aside = try? await storage.driver.getContent(layout.garbageTrash(digest)) else {
                throw RegistryError(.manifestUnknown, "manifest \(digest) is linked but its data is missing")
            }
            bytes = aside
        }
        // The media type is the manifest's own (parsing JSON on every pull would cost more
        // than reading it), kept with its descriptor once known.
        if let mediaType = await storage.cache.descriptor(of: digest)?.mediaType {
            return StoredManifest(digest: digest, mediaType: mediaType, bytes: bytes)
        }
        let mediaType = Self.storedMediaType(bytes)
        await storage.cache.remember(BlobDescriptor(digest: digest, size: Int64(bytes.count), mediaType: mediaType))
        return StoredManifest(digest: digest, mediaType: mediaType, bytes: bytes)
    }

    /// The media type of stored bytes. Lenient on purpose: a data directory may hold what
    /// registry:2 accepted (schema1 among it), and what was accepted is served.
    static func storedMediaType(_ bytes: [UInt8]) -> String {
        if let manifest = try? Manifest(bytes: bytes, contentType: nil) { return manifest.mediaType }
        struct Sniff: Decodable {
            var mediaType: String?
            var schemaVersion: Int?
            var signatures: [AnyCodable]?
        }
        struct AnyCodable: Decodable {}
        let sniff = try? JSONDecoder().decode(Sniff.self, from: Data(bytes))
        if let declared = sniff?.mediaType { return declared }
        if sniff?.schemaVersion == 1 {
            return sniff?.signatures != nil ? MediaType.dockerSchema1Signed : MediaType.dockerSchema1
        }
        return MediaType.ociManifest
    }

    /// Checks and stores a manifest, links it into the repository and points the tag at it.
    func put(
        _ name: RepositoryName, _ reference: Reference, bytes: [UInt8], contentType: String?
    ) async throws -> PushedManifest {
        let manifest = try Manifest(bytes: bytes, contentType: contentType)
        let digest: Digest
        switch reference {
        case .digest(let named):
            digest = Digest.of(bytes, algorithm: named.algorithm)
            guard digest == named else {
                throw RegistryError(
                    .digestInvalid, "manifest content has digest \(digest), not \(named)",
                    detail: ["digest": named.description])
            }
        case .tag:
            digest = Digest.of(bytes)
        }
        try await checkReferences(name, manifest)

        let blobPath = layout.blobData(digest)
        if !(try await storage.exists(blobPath)) {
            try await storage.driver.putContent(blobPath, bytes)
        }
        await storage.cache.remember(
            BlobDescriptor(digest: digest, size: Int64(bytes.count), mediaType: manifest.mediaType))
        try await storage.link(name, digest, as: .manifest)
        try await confirmStored(name, digest, manifest)
        if case .tag(let tag) = reference {
            try await tags.set(name, tag, digest)
        }
        let subject = try manifest.subject?.digest()
        if let subject {
            try await storage.writeLink(layout.referrerLink(name, subject: subject, digest), digest)
        }
        return PushedManifest(digest: digest, subject: subject)
    }

    /// Every blob an image manifest names must be in the repository, and every manifest an index
    /// names too, so that a pull of what was accepted cannot fail. Foreign layers with `urls`
    /// are exempt, as in registry:2, when the URL policy permits them.
    func checkReferences(_ name: RepositoryName, _ manifest: Manifest) async throws {
        var missing: [Digest] = []
        switch manifest.kind {
        case .image:
            for descriptor in [manifest.config].compactMap({ $0 }) + manifest.layers {
                let digest = try descriptor.digest()
                if let urls = descriptor.urls, !urls.isEmpty {
                    for url in urls where !foreignLayerURLs.permits(url) {
                        throw RegistryError(
                            .manifestInvalid,
                            "layer \(digest) has URL \(url), which validation.manifests.urls does not permit")
                    }
                    continue
                }
                if try await !blobs.hasLayer(name, digest) { missing.append(digest) }
            }
        case .index:
            for descriptor in manifest.manifests {
                let digest = try descriptor.digest()
                if try await !storage.isLinked(name, digest, as: .manifest) { missing.append(digest) }
            }
        }
        if let first = missing.first {
            throw RegistryError(
                .manifestBlobUnknown,
                "manifest references \(missing.count) unknown blob(s) or manifest(s) in \(name), first \(first)",
                detail: ["digest": first.description])
        }
    }

    /// Checks, after the manifest is linked and in storage itself (not the cache), that what it
    /// references is still there: garbage collection may have set a blob aside since
    /// `checkReferences`. With the link made first, either this check sees the blob gone, or the
    /// collector's second look sees the link and puts the blob back (`GarbageCollector`). A
    /// manifest found incomplete is unlinked, and its missing blobs forgotten by the cache, so
    /// that the client's next try uploads them.
    func confirmStored(_ name: RepositoryName, _ digest: Digest, _ manifest: Manifest) async throws {
        var paths = [(digest, layout.blobData(digest))]
        switch manifest.kind {
        case .image:
            for descriptor in [manifest.config].compactMap({ $0 }) + manifest.layers
            where descriptor.urls?.isEmpty ?? true {
                let blob = try descriptor.digest()
                paths.append((blob, layout.blobData(blob)))
            }
        case .index:
            for descriptor in manifest.manifests {
                let child = try descriptor.digest()
                paths += [(child, layout.blobData(child)), (child, layout.revisionLink(name, child))]
            }
        }
        let driver = storage.driver
        let missing = try await withThrowingTaskGroup(of: Digest?.self) { group in
            for (blob, path) in paths {
                group.addTask {
                    do {
                        _ = try await driver.stat(path)
                        return nil
                    } catch StorageError.notFound {
                        return blob
                    }
                }
            }
            return try await group.reduce(into: Set<Digest>()) { if let blob = $1 { $0.insert(blob) } }
        }
        guard let first = missing.sorted().first else { return }
        try await storage.unlink(name, digest, as: .manifest)
        for blob in missing {
            await storage.cache.forgetDescriptor(of: blob)
            await storage.cache.forgetLink(blob, as: .layer, in: name)
            await storage.cache.forgetLink(blob, as: .manifest, in: name)
        }
        throw RegistryError(
            .manifestBlobUnknown,
            "\(first), which the manifest references, was removed from \(name) while the manifest was pushed (garbage collection); push it again",
            detail: ["digest": first.description])
    }

    /// Deletes a manifest by digest (with every tag pointing at it), or just a tag. Returns the
    /// tags removed.
    @discardableResult
    func delete(_ name: RepositoryName, _ reference: Reference) async throws -> [Tag] {
        switch reference {
        case .tag(let tag):
            guard try await tags.digest(name, tag) != nil else {
                throw RegistryError(.manifestUnknown, detail: ["Tag": tag.value])
            }
            try await tags.delete(name, tag)
            return [tag]
        case .digest(let digest):
            let stored = try await manifest(name, reference)
            var removed: [Tag] = []
            for tagName in try await storage.listIfPresent(layout.tags(name)) {
                guard let tag = try? Tag(tagName) else { continue }
                if try await tags.digest(name, tag) == digest {
                    try await tags.delete(name, tag)
                    removed.append(tag)
                }
            }
            if let subject = try? Manifest(bytes: stored.bytes, contentType: nil).subject?.digest() {
                try await storage.deleteLink(layout.referrerLink(name, subject: subject, digest))
            }
            held?.forget(name, digest)
            try await storage.unlink(name, digest, as: .manifest)
            return removed
        }
    }
}
