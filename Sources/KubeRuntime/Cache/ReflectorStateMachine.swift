import KubeClient

/// The decisions of a reflector (client-go's `Reflector.ListAndWatch`), free of I/O:
/// list, then watch from the list's resourceVersion; resume a watch that ended from the last
/// version seen; relist when the server says the version is gone (`410`); back off on failures.
///
/// Backoff starts at 800 ms, doubles up to 30 s with full jitter, and resets after two
/// minutes without failures. Watch timeouts are random in `[minimumWatchTimeout, 2×minimum]`
/// so that many clients do not reconnect at once.
public struct ReflectorStateMachine: Sendable {
    /// What the reflector should do next.
    public enum Action: Sendable, Hashable {
        /// List everything (consistent read) and replace the store.
        case list
        /// Watch from `resourceVersion` for at most `timeoutSeconds`.
        case watch(resourceVersion: String, timeoutSeconds: Int)
        /// Wait, then perform `next` (which is `.list` or `.watch`).
        case wait(Duration, then: Next)
    }

    /// The action that follows a wait.
    public enum Next: Sendable, Hashable {
        case list
        case watch(resourceVersion: String, timeoutSeconds: Int)
    }

    public struct Configuration: Sendable, Hashable {
        public var backoff: Backoff
        /// Failures older than this no longer grow the backoff.
        public var backoffResetAfter: Duration
        public var minimumWatchTimeout: Duration

        public init(
            backoff: Backoff = Backoff(initial: .milliseconds(800), factor: 2, maximum: .seconds(30), jitter: 1.0),
            backoffResetAfter: Duration = .seconds(120),
            minimumWatchTimeout: Duration = .seconds(300)
        ) {
            self.backoff = backoff
            self.backoffResetAfter = backoffResetAfter
            self.minimumWatchTimeout = minimumWatchTimeout
        }
    }

    public let configuration: Configuration
    /// The newest resourceVersion seen (from the list, an event or a bookmark).
    public private(set) var lastResourceVersion: String?
    /// Whether one list has completed, i.e. the cache is populated.
    public private(set) var hasSynced = false
    private var consecutiveFailures = 0
    private var lastFailure: ContinuousClock.Instant?

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The first action.
    public mutating func start() -> Action { .list }

    /// A list completed at `resourceVersion`.
    public mutating func listSucceeded(resourceVersion: String, random: Double) -> Action {
        lastResourceVersion = resourceVersion
        hasSynced = true
        return .watch(resourceVersion: resourceVersion, timeoutSeconds: watchTimeout(random: random))
    }

    /// A list failed (transport or server error).
    public mutating func listFailed(now: ContinuousClock.Instant, random: Double) -> Action {
        .wait(failureDelay(now: now, random: random), then: .list)
    }

    /// An ADDED/MODIFIED/DELETED or BOOKMARK event carried `resourceVersion`.
    public mutating func eventReceived(resourceVersion: String?) {
        if let resourceVersion, !resourceVersion.isEmpty { lastResourceVersion = resourceVersion }
    }

    /// The server closed the watch normally (timeout elapsed): resume from the last version.
    public mutating func watchEnded(random: Double) -> Action {
        guard let version = lastResourceVersion else { return .list }
        return .watch(resourceVersion: version, timeoutSeconds: watchTimeout(random: random))
    }

    /// The watch failed. `gone` means the version was compacted (`410`), so a relist is needed;
    /// otherwise the watch is retried from the last version after a backoff.
    public mutating func watchFailed(gone: Bool, now: ContinuousClock.Instant, random: Double) -> Action {
        if gone {
            lastResourceVersion = nil
            return .list
        }
        let delay = failureDelay(now: now, random: random)
        guard let version = lastResourceVersion else { return .wait(delay, then: .list) }
        return .wait(delay, then: .watch(resourceVersion: version, timeoutSeconds: watchTimeout(random: random)))
    }

    private func watchTimeout(random: Double) -> Int {
        let minimum = configuration.minimumWatchTimeout.seconds
        return max(1, Int((minimum * (1 + random)).rounded(.down)))
    }

    private mutating func failureDelay(now: ContinuousClock.Instant, random: Double) -> Duration {
        if let lastFailure, now - lastFailure > configuration.backoffResetAfter {
            consecutiveFailures = 0
        }
        consecutiveFailures += 1
        lastFailure = now
        // Full jitter (client-go's factor 1.0): between the base delay and twice it.
        let base = configuration.backoff.delay(attempt: consecutiveFailures, random: 0.5)
        let jitter = configuration.backoff.jitter
        return base * (1 + jitter * random)
    }
}
