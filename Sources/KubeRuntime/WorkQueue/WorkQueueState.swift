import DequeModule

/// The pure bookkeeping of a work queue, as client-go's `workqueue.Type`:
/// a FIFO of keys, a `dirty` set (queued or re-added while processing) and a `processing` set.
///
/// Guarantees: a key is queued at most once; a key is never handed out while it is being
/// processed; a key added while processing is queued again when ``done(_:)`` is called.
public struct WorkQueueState<Key: Hashable & Sendable>: Sendable {
    private(set) var queue: Deque<Key> = []
    private(set) var dirty: Set<Key> = []
    private(set) var processing: Set<Key> = []
    public private(set) var isShuttingDown = false

    public init() {}

    /// Number of keys waiting to be handed out.
    public var count: Int { queue.count }
    /// Number of keys handed out and not yet `done`.
    public var processingCount: Int { processing.count }

    /// Marks `key` dirty; returns `true` when it was appended to the queue (ready to hand out).
    @discardableResult
    public mutating func add(_ key: Key) -> Bool {
        guard !isShuttingDown, !dirty.contains(key) else { return false }
        dirty.insert(key)
        if processing.contains(key) { return false }
        queue.append(key)
        return true
    }

    /// Hands out the oldest key and marks it processing; `nil` when none is queued.
    public mutating func next() -> Key? {
        guard let key = queue.popFirst() else { return nil }
        processing.insert(key)
        dirty.remove(key)
        return key
    }

    /// Marks `key` processed; returns `true` when it was re-added meanwhile and is queued again.
    @discardableResult
    public mutating func done(_ key: Key) -> Bool {
        processing.remove(key)
        if dirty.contains(key) {
            queue.append(key)
            return true
        }
        return false
    }

    /// Stops accepting keys. With `dropQueued`, keys not yet handed out are discarded
    /// (a controller stopping on SIGTERM finishes in-flight work only); otherwise they are
    /// still handed out, as client-go does.
    public mutating func shutDown(dropQueued: Bool) {
        isShuttingDown = true
        if dropQueued {
            for key in queue { dirty.remove(key) }
            queue.removeAll()
        }
    }
}
