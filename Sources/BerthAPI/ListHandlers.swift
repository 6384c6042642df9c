internal import BerthHTTP
internal import BerthRegistry
internal import NIOCore
internal import NIOHTTP1
internal import OCI

extension RegistryAPI {
    /// `GET /v2/<name>/tags/list?n=&last=`: tags in lexical order, paginated with `Link`.
    func tags(
        _ repository: Repository, _ query: [String: String], _ context: RequestContext
    ) async throws -> HTTPResponse {
        let n = try pageSize(query["n"], maximum: nil)
        let last = query["last"]
        // Ask for one more than the page to know whether there is a next page (without overflowing
        // on a client's n=Int.max).
        var tags = n == 0 ? [] : try await repository.tags(after: last, limit: n.map { min($0, Int.max - 1) + 1 })
        var headers = HTTPHeaders()
        if let n, tags.count > n {
            tags.removeLast(tags.count - n)
            let next = "/v2/\(repository.name)/tags/list?last=\(tags.last!.queryEscaped())&n=\(n)"
            headers.add(name: "Link", value: "<\(options.urls.prefix + next)>; rel=\"next\"")
        }
        return json(
            ListJSON.object(["name": .string(repository.name.value), "tags": .strings(tags)]), headers: headers)
    }

    /// `GET /v2/_catalog?n=&last=`, refusing pages above `catalog.maxentries` as registry:2 does.
    func catalog(_ query: [String: String], _ context: RequestContext) async throws -> HTTPResponse {
        let n = try pageSize(query["n"], maximum: options.catalogMaxEntries) ?? options.catalogMaxEntries
        var names = n == 0 ? [] : try await registry.repositories(after: query["last"], limit: n + 1)
        var headers = HTTPHeaders()
        if names.count > n {
            names.removeLast(names.count - n)
            let next = "/v2/_catalog?last=\(names.last!.queryEscaped())&n=\(n)"
            headers.add(name: "Link", value: "<\(options.urls.prefix + next)>; rel=\"next\"")
        }
        return json(ListJSON.object(["repositories": .strings(names)]), headers: headers)
    }

    /// `GET /v2/<name>/referrers/<digest>?artifactType=`.
    func referrers(_ repository: Repository, _ digest: Digest, _ query: [String: String]) async throws -> HTTPResponse {
        let artifactType = query["artifactType"].flatMap { $0.isEmpty ? nil : $0 }
        let descriptors = try await repository.referrers(of: digest, artifactType: artifactType)
        var headers = HTTPHeaders([("Content-Type", MediaType.ociIndex)])
        if artifactType != nil { headers.add(name: "OCI-Filters-Applied", value: "artifactType") }
        return HTTPResponse(
            status: .ok, headers: headers, body: .bytes(ByteBuffer(bytes: ReferrersIndex.encode(descriptors))))
    }

    /// Parses `n`. The number only ever bounds a loop; nothing is sized from it (CVE-2023-2253).
    private func pageSize(_ text: String?, maximum: Int?) throws(RegistryError) -> Int? {
        guard let text else { return nil }
        guard let n = Int(text), n >= 0 else {
            throw RegistryError(.paginationNumberInvalid, "n must be a non-negative integer, not \(text.prefix(40))")
        }
        if let maximum, n > maximum {
            throw RegistryError(
                .paginationNumberInvalid, "n=\(n) is above catalog.maxentries (\(maximum))", detail: ["n": text])
        }
        return n
    }
}
