/// Concurrent requests for one thing share one task: the first starts it, the others await its
/// result, and it is forgotten once done (so a failure is retried by the next request).
actor SharedFetches<Value: Sendable> {
    private var running: [String: Task<Value, any Error>] = [:]

    /// The value of the fetch running for `key`, or of a new one; `joined` is called when one
    /// was already running.
    func value(
        for key: String, joined: @Sendable () -> Void = {}, _ fetch: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        if let task = running[key] {
            joined()
            return try await task.value
        }
        let task = Task { try await fetch() }
        running[key] = task
        defer { running[key] = nil }
        return try await task.value
    }
}
