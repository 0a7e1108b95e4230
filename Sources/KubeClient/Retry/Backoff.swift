/// Capped exponential backoff with jitter: `initial × factor^(attempt-1)`, at most `maximum`,
/// then scaled by a random factor in `[1 - jitter, 1 + jitter]`.
public struct Backoff: Sendable, Hashable {
    public var initial: Duration
    public var factor: Double
    public var maximum: Duration
    /// Fraction of the delay added or removed at random (0 disables jitter).
    public var jitter: Double

    public init(initial: Duration, factor: Double = 2, maximum: Duration, jitter: Double = 0.2) {
        self.initial = initial
        self.factor = factor
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The delay before retry number `attempt` (1-based); `random` is uniform in `0..<1`.
    public func delay(attempt: Int, random: Double) -> Duration {
        let base = initial.seconds * pow(factor, Double(max(attempt, 1) - 1))
        let capped = min(base, maximum.seconds)
        let scaled = capped * (1 - jitter + 2 * jitter * random)
        return .seconds(max(scaled, 0))
    }

    /// `delay(attempt:random:)` with the system random source.
    public func delay(attempt: Int) -> Duration {
        delay(attempt: attempt, random: Double.random(in: 0..<1))
    }
}

/// Which requests are retried and how long to wait between attempts.
///
/// `429 Too Many Requests` is retried for every verb (the server did not process the request);
/// `5xx` and connection failures only for idempotent verbs (get, list, update, delete, apply), so
/// a create or a JSON patch is never applied twice.
public struct RetryPolicy: Sendable, Hashable {
    /// Total attempts including the first.
    public var maxAttempts: Int
    public var backoff: Backoff
    /// Upper bound on a server-sent `Retry-After`.
    public var maxRetryAfter: Duration

    public init(
        maxAttempts: Int = 5,
        backoff: Backoff = Backoff(initial: .milliseconds(100), factor: 2, maximum: .seconds(5), jitter: 0.2),
        maxRetryAfter: Duration = .seconds(60)
    ) {
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.maxRetryAfter = maxRetryAfter
    }

    /// No retries at all.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// What a failed attempt should lead to.
    public enum Decision: Sendable, Hashable {
        case giveUp
        case retry(after: Duration)
    }

    /// Decides after attempt number `attempt` failed with HTTP `statusCode` (`nil` for a transport failure).
    public func decide(attempt: Int, idempotent: Bool, statusCode: Int?, retryAfterSeconds: Int?, random: Double) -> Decision {
        guard attempt < maxAttempts else { return .giveUp }
        switch statusCode {
        case 429?:
            break
        case let code? where code >= 500 && idempotent:
            break
        case nil where idempotent:
            break
        default:
            return .giveUp
        }
        if let retryAfterSeconds, retryAfterSeconds >= 0 {
            return .retry(after: min(.seconds(retryAfterSeconds), maxRetryAfter))
        }
        return .retry(after: backoff.delay(attempt: attempt, random: random))
    }
}

/// A token bucket for client-side rate limiting (client-go's `QPS`/`Burst`).
public struct TokenBucket: Sendable {
    public let qps: Double
    public let burst: Int
    private var tokens: Double
    private var last: ContinuousClock.Instant?
    /// The first reservation's instant: the origin of the release grid of
    /// ``reserve(now:releasingEvery:)``.
    private var origin: ContinuousClock.Instant?

    public init(qps: Double, burst: Int) {
        self.qps = qps
        self.burst = max(burst, 1)
        self.tokens = Double(max(burst, 1))
    }

    /// Takes one token at `now` and returns how long the caller must wait before using it
    /// (zero when a token was available). Reservations queue up: tokens may go negative.
    public mutating func reserve(now: ContinuousClock.Instant) -> Duration {
        guard qps > 0 else { return .zero }
        if origin == nil { origin = now }
        if let last {
            let elapsed = (now - last).seconds
            tokens = min(Double(burst), tokens + elapsed * qps)
        }
        last = now
        tokens -= 1
        if tokens >= 0 { return .zero }
        return .seconds(-tokens / qps)
    }

    /// Like ``reserve(now:)``, but a caller that must wait is released at the next multiple of
    /// `tick` since the first reservation, together with the others due in that tick.
    ///
    /// The average rate stays `qps`; a throttled request waits up to `tick` longer. Waking
    /// once per tick instead of once per request saves the timer, thread and event-loop
    /// wake-ups of requests spaced `1/qps` apart (a tenth of a node daemon's CPU when it
    /// installs a thousand profiles at 200 requests/s). Keep `tick` at most `burst / qps`, so
    /// that no tick releases more than a burst.
    public mutating func reserve(now: ContinuousClock.Instant, releasingEvery tick: Duration) -> Duration {
        let wait = reserve(now: now)
        guard wait > .zero, tick > .zero, let origin else { return wait }
        let ticks = ((now - origin + wait) / tick).rounded(.up)
        return max(wait, origin + tick * ticks - now)
    }

    /// The release tick the API client uses: 100 ms, or less when the burst is smaller than
    /// 100 ms worth of requests. Only requests beyond the burst wait at all.
    public var releaseTick: Duration {
        guard qps > 0 else { return .zero }
        return min(.milliseconds(100), .seconds(Double(burst) / qps))
    }
}

extension Duration {
    /// The duration in (fractional) seconds.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
