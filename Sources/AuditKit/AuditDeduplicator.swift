/// Rate-aware de-duplication of the enricher's log output: the first record of a kind is
/// logged at once; identical ones within `window` are only counted, and when the window
/// closes one summary with the number suppressed is logged. A flood of one event becomes
/// one line per window; counters (kept elsewhere) still see every record.
///
/// Memory is bounded by `capacity` signatures: when a new one arrives at capacity, every
/// open window is closed early (its summary returned) and tracking starts afresh.
public struct AuditDeduplicator<Signature: Hashable & Sendable, Record: Sendable>: Sendable {
    /// What to log after ``admit(_:signature:now:)``.
    public enum Decision: Equatable, Sendable {
        case log
        case suppress
    }

    /// A closed window in which identical records were suppressed.
    public struct Summary: Sendable {
        /// The first record of the window.
        public var record: Record
        /// How many identical records followed it and were not logged.
        public var suppressed: Int
    }

    private struct Window: Sendable {
        var opened: ContinuousClock.Instant
        var record: Record
        var suppressed: Int
    }

    public let window: Duration
    public let capacity: Int
    private var windows: [Signature: Window] = [:]

    public init(window: Duration, capacity: Int) {
        precondition(capacity > 0, "capacity must be positive")
        self.window = window
        self.capacity = capacity
    }

    /// The number of signatures with an open window.
    public var tracked: Int { windows.count }

    /// Records one occurrence; `overflow` receives the summaries of windows closed early
    /// because the table was full.
    public mutating func admit(
        _ record: Record, signature: Signature, now: ContinuousClock.Instant, overflow: inout [Summary]
    ) -> Decision {
        if var open = windows[signature] {
            if now - open.opened < window {
                open.suppressed += 1
                windows[signature] = open
                return .suppress
            }
            if open.suppressed > 0 { overflow.append(Summary(record: open.record, suppressed: open.suppressed)) }
        } else if windows.count >= capacity {
            overflow += closeAll()
        }
        windows[signature] = Window(opened: now, record: record, suppressed: 0)
        return .log
    }

    /// Closes the windows older than `window`, returning those that suppressed something.
    public mutating func expire(now: ContinuousClock.Instant) -> [Summary] {
        var summaries: [Summary] = []
        for (signature, open) in windows where now - open.opened >= window {
            if open.suppressed > 0 { summaries.append(Summary(record: open.record, suppressed: open.suppressed)) }
            windows[signature] = nil
        }
        return summaries
    }

    /// Closes every window (at shutdown, or when full).
    public mutating func closeAll() -> [Summary] {
        let summaries = windows.values.filter { $0.suppressed > 0 }.map { Summary(record: $0.record, suppressed: $0.suppressed) }
        windows.removeAll(keepingCapacity: true)
        return summaries
    }
}
