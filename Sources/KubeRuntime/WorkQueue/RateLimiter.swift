import KubeClient

/// Per-key exponential backoff: `base × 2^failures`, capped (client-go's
/// `ItemExponentialFailureRateLimiter`, defaults 5 ms and 1000 s).
public struct ItemExponentialRateLimiter<Key: Hashable & Sendable>: Sendable {
    public var base: Duration
    public var maximum: Duration
    private var failures: [Key: Int] = [:]

    public init(base: Duration = .milliseconds(5), maximum: Duration = .seconds(1000)) {
        self.base = base
        self.maximum = maximum
    }

    /// The delay for the next retry of `key`, counting this failure.
    public mutating func when(_ key: Key) -> Duration {
        let count = failures[key, default: 0]
        failures[key] = count + 1
        // 2^count overflows quickly; past 2^62 the cap applies anyway.
        let factor = count >= 62 ? Double.greatestFiniteMagnitude : Double(1 << count)
        let seconds = base.seconds * factor
        return seconds >= maximum.seconds ? maximum : .seconds(seconds)
    }

    /// Clears the failure history of `key` (after a successful reconcile).
    public mutating func forget(_ key: Key) {
        failures.removeValue(forKey: key)
    }

    /// How many times `key` failed since it was last forgotten.
    public func retries(_ key: Key) -> Int { failures[key, default: 0] }
}

/// The controller default: the larger of per-key exponential backoff and an overall token
/// bucket (10 qps, burst 100), as controller-runtime's `DefaultTypedControllerRateLimiter`.
public struct ControllerRateLimiter<Key: Hashable & Sendable>: Sendable {
    public var perItem: ItemExponentialRateLimiter<Key>
    public var overall: TokenBucket

    public init(perItem: ItemExponentialRateLimiter<Key> = .init(), overall: TokenBucket = TokenBucket(qps: 10, burst: 100)) {
        self.perItem = perItem
        self.overall = overall
    }

    public mutating func when(_ key: Key, now: ContinuousClock.Instant) -> Duration {
        max(perItem.when(key), overall.reserve(now: now))
    }

    public mutating func forget(_ key: Key) { perItem.forget(key) }

    public func retries(_ key: Key) -> Int { perItem.retries(key) }
}
