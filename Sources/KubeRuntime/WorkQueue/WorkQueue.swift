import CoreMetrics
import DequeModule
import ServiceLifecycle
import Synchronization

/// A rate-limited, delaying work queue for controllers (client-go's workqueue semantics
/// around ``WorkQueueState``). ``get()`` suspends until a key is ready.
///
/// Delayed and rate-limited adds need ``run()`` to be running (a controller runs it);
/// it ends when the queue shuts down. A named queue reports client-go's `workqueue_*` metrics.
public final class WorkQueue<Key: Hashable & Sendable>: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Key?, Never>
    }

    private struct Inner {
        var state = WorkQueueState<Key>()
        var limiter: ControllerRateLimiter<Key>
        var waiters: Deque<Waiter> = []
        var cancelledWaiters: Set<UInt64> = []
        var nextWaiterID: UInt64 = 0
        var delayed: [Key: ContinuousClock.Instant] = [:]
        var pumpWake: CheckedContinuation<Void, Never>?
        var pendingWake = false
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        /// When each queued key was added, for the queue-duration metric.
        var addedAt: [Key: ContinuousClock.Instant] = [:]
    }

    private let inner: Mutex<Inner>
    private let metrics: WorkQueueMetrics?

    /// - Parameters:
    ///   - name: the `name` label of the queue's metrics; an unnamed queue reports none.
    ///   - metricsFactory: where metrics go (default: the process's bootstrapped `MetricsSystem`).
    public init(
        name: String? = nil,
        rateLimiter: ControllerRateLimiter<Key> = ControllerRateLimiter(),
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        inner = Mutex(Inner(limiter: rateLimiter))
        metrics = name.map { WorkQueueMetrics(name: $0, factory: metricsFactory ?? MetricsSystem.factory) }
    }

    /// Keys waiting to be handed out (not counting delayed ones).
    public var count: Int { inner.withLock { $0.state.count } }

    /// Keys scheduled for later.
    public var delayedCount: Int { inner.withLock { $0.delayed.count } }

    public var isShuttingDown: Bool { inner.withLock { $0.state.isShuttingDown } }

    /// Queues `key` now (no-op when it is already queued or the queue is shutting down).
    public func add(_ key: Key) {
        let now = ContinuousClock.now
        let (handOff, accepted, depth) = inner.withLock { inner -> ((Waiter, Key)?, Bool, Int) in
            let queued = inner.state.add(key)
            let accepted = !inner.state.isShuttingDown
            if accepted, metrics != nil, inner.addedAt[key] == nil { inner.addedAt[key] = now }
            return (queued ? self.handOff(&inner) : nil, accepted, inner.state.count)
        }
        if accepted {
            metrics?.adds.increment()
            metrics?.depth.record(depth)
        }
        if let (waiter, key) = handOff { waiter.continuation.resume(returning: key) }
    }

    /// Queues `key` after `delay`; when scheduled twice, the earlier time wins.
    public func add(_ key: Key, after delay: Duration) {
        guard delay > .zero else { return add(key) }
        let readyAt = ContinuousClock.now + delay
        let wake = inner.withLock { inner -> CheckedContinuation<Void, Never>? in
            guard !inner.state.isShuttingDown else { return nil }
            if let existing = inner.delayed[key], existing <= readyAt { return nil }
            inner.delayed[key] = readyAt
            return Self.takeWake(&inner)
        }
        wake?.resume()
    }

    /// Queues `key` after its rate-limited backoff (per-key exponential and overall bucket).
    public func addRateLimited(_ key: Key) {
        let delay = inner.withLock { $0.limiter.when(key, now: .now) }
        metrics?.retries.increment()
        add(key, after: delay)
    }

    /// Resets the backoff of `key`.
    public func forget(_ key: Key) {
        inner.withLock { $0.limiter.forget(key) }
    }

    /// How many rate-limited retries `key` has had since it was last forgotten.
    public func retries(_ key: Key) -> Int {
        inner.withLock { $0.limiter.retries(key) }
    }

    /// The next key to process, or `nil` once the queue is shut down (or the task is cancelled).
    /// Call ``done(_:)`` when finished with the key.
    public func get() async -> Key? {
        let id = inner.withLock { inner -> UInt64 in
            inner.nextWaiterID += 1
            return inner.nextWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Key?, Never>) in
                let immediate = inner.withLock { inner -> Key?? in
                    if inner.cancelledWaiters.remove(id) != nil { return .some(nil) }
                    if let key = self.next(&inner) { return .some(key) }
                    if inner.state.isShuttingDown { return .some(nil) }
                    inner.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = inner.withLock { inner -> Waiter? in
                if let index = inner.waiters.firstIndex(where: { $0.id == id }) {
                    return inner.waiters.remove(at: index)
                }
                inner.cancelledWaiters.insert(id)
                return nil
            }
            waiter?.continuation.resume(returning: nil)
        }
    }

    /// Marks `key` processed; if it was added again meanwhile, it is queued again.
    public func done(_ key: Key) {
        let (handOff, drained) = inner.withLock { inner -> ((Waiter, Key)?, [CheckedContinuation<Void, Never>]) in
            var handOff: (Waiter, Key)?
            if inner.state.done(key) {
                handOff = self.handOff(&inner)
                metrics?.depth.record(inner.state.count)
            }
            return (handOff, Self.takeDrainWaiters(&inner))
        }
        if let (waiter, key) = handOff { waiter.continuation.resume(returning: key) }
        drained.forEach { $0.resume() }
    }

    /// Stops the queue: no more adds; waiting and future ``get()`` calls return `nil` once no
    /// key is left. `dropQueued` discards keys not yet handed out.
    public func shutDown(dropQueued: Bool = false) {
        let (waiters, wake, drained) = inner.withLock { inner in
            inner.state.shutDown(dropQueued: dropQueued)
            inner.delayed.removeAll()
            if dropQueued { inner.addedAt.removeAll() }
            metrics?.depth.record(inner.state.count)
            var released: [Waiter] = []
            if inner.state.count == 0 {
                released = Array(inner.waiters)
                inner.waiters.removeAll()
            }
            return (released, Self.takeWake(&inner), Self.takeDrainWaiters(&inner))
        }
        waiters.forEach { $0.continuation.resume(returning: nil) }
        wake?.resume()
        drained.forEach { $0.resume() }
    }

    /// Shuts down and waits until every handed-out key is `done`.
    public func shutDownWithDrain(dropQueued: Bool = false) async {
        shutDown(dropQueued: dropQueued)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = inner.withLock { inner -> Bool in
                if inner.state.processingCount == 0 { return true }
                inner.drainWaiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Moves delayed keys into the queue when they are due, until the queue shuts down.
    public func run() async {
        while true {
            let now = ContinuousClock.now
            let (due, next, stopped) = inner.withLock { inner -> ([Key], ContinuousClock.Instant?, Bool) in
                // Keys that became due together are queued in the order of their deadlines.
                let due = inner.delayed.filter { $0.value <= now }.sorted { $0.value < $1.value }.map(\.key)
                for key in due { inner.delayed.removeValue(forKey: key) }
                return (due, inner.delayed.values.min(), inner.state.isShuttingDown)
            }
            if stopped { return }
            due.forEach(add)
            if !due.isEmpty { continue }
            await sleep(until: next)
            if Task.isCancelled { return }
        }
    }

    private func sleep(until deadline: ContinuousClock.Instant?) async {
        await withTaskGroup(of: Void.self) { group in
            if let deadline {
                group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            }
            group.addTask { await self.waitForWake() }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForWake() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let immediate = inner.withLock { inner -> Bool in
                    if inner.pendingWake || Task.isCancelled {
                        inner.pendingWake = false
                        return true
                    }
                    inner.pumpWake = continuation
                    return false
                }
                if immediate { continuation.resume() }
            }
        } onCancel: {
            let wake = inner.withLock { inner -> CheckedContinuation<Void, Never>? in
                defer { inner.pumpWake = nil }
                return inner.pumpWake
            }
            wake?.resume()
        }
    }

    private func handOff(_ inner: inout Inner) -> (Waiter, Key)? {
        guard !inner.waiters.isEmpty, let key = next(&inner) else { return nil }
        return (inner.waiters.removeFirst(), key)
    }

    /// Takes the next key and reports how long it waited.
    private func next(_ inner: inout Inner) -> Key? {
        guard let key = inner.state.next() else { return nil }
        guard let metrics else { return key }
        if let added = inner.addedAt.removeValue(forKey: key) {
            metrics.queueDuration.record(ContinuousClock.now - added)
        }
        metrics.depth.record(inner.state.count)
        return key
    }

    private static func takeWake(_ inner: inout Inner) -> CheckedContinuation<Void, Never>? {
        guard let wake = inner.pumpWake else {
            inner.pendingWake = true
            return nil
        }
        inner.pumpWake = nil
        return wake
    }

    private static func takeDrainWaiters(_ inner: inout Inner) -> [CheckedContinuation<Void, Never>] {
        guard inner.state.isShuttingDown, inner.state.processingCount == 0 else { return [] }
        defer { inner.drainWaiters.removeAll() }
        return inner.drainWaiters
    }
}
