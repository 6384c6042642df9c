internal import NIOCore

/// What the handlers on both sides of a connection's HTTP encoder share, so that requests
/// answered below it (`ImmediateResponseHandler`) and requests passed up to the connection's
/// task stay in order and under one idle deadline. Used only on the connection's event loop.
final class ConnectionLedger {
    /// Requests passed up, and responses to them that have ended. While they differ, a request
    /// must not be answered below: its response would overtake the one still being written.
    var passedUp = 0
    var answeredAbove = 0
    /// When the last response answered below was written (the next head is due a head
    /// timeout later, as after any response).
    var lastAnsweredBelow = NIODeadline.distantPast

    /// Whether nothing passed up is waiting for its response.
    var isSettled: Bool { passedUp == answeredAbove }
}

@available(*, unavailable)
extension ConnectionLedger: Sendable {}
