public import NIOHTTP1

/// Answers some requests at once, on the connection's event loop, from what is already in
/// memory. A request answered here starts no task and crosses no thread: the usual path hands
/// every request from the event loop to the connection's task and the response back, and for a
/// response of a few hundred bytes those hops are most of its cost (a cluster's nodes asking for
/// the same manifest again and again are the hot path of a registry).
public protocol ImmediateResponder: Sendable {
    /// The response to a request without a body, or nil to have it served by the
    /// `HTTPResponder`. Runs on an event loop, so it must not wait for anything; only an
    /// `.empty` or `.bytes` body is sent from here (any other goes the usual way too).
    func respondImmediately(to head: HTTPRequestHead) -> HTTPResponse?
}
