/// Runs `body` for each item, `width` at a time, and hands the results to `handle` in the items'
/// order as soon as each is ready. Collection waits on storage far more than it computes (a
/// filesystem call goes through the thread pool, an S3 one over the network), so one
/// repository or blob at a time would leave the machine idle; the order keeps the output
/// registry:2's. Items are taken from the sequence only as they start, and at most twice
/// `width` results wait for an earlier one, so memory stays bounded whatever the count.
func inOrder<Items: Sequence, Result: Sendable>(
    _ items: Items, width: Int = 16, _ body: @escaping @Sendable (Items.Element) async throws -> Result,
    then handle: (Result) throws -> Void
) async throws where Items.Element: Sendable {
    try await withThrowingTaskGroup(of: (Int, Result).self) { group in
        var pending = items.makeIterator()
        var ready: [Int: Result] = [:]
        var started = 0
        var handled = 0
        // `width` running, and no more than `2 * width` not yet handled.
        func startMore() {
            while started - handled - ready.count < width, started - handled < 2 * width, let item = pending.next() {
                let index = started
                group.addTask { (index, try await body(item)) }
                started += 1
            }
        }
        startMore()
        while let (index, result) = try await group.next() {
            ready[index] = result
            while let next = ready.removeValue(forKey: handled) {
                try handle(next)
                handled += 1
            }
            startMore()
        }
    }
}
