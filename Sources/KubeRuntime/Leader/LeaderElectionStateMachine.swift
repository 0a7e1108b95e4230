import Foundation
import KubeClient
import KubeModels

/// The decisions of Lease-based leader election (client-go's `tryAcquireOrRenew`), free of I/O.
///
/// Expiry is judged by *local* time since the record was last seen to change, never by
/// comparing clocks across machines: a lease held by someone else counts as expired only when
/// its record has not changed for `leaseDuration`.
public struct LeaderElectionStateMachine: Sendable {
    /// What to write, given the lease as it is now.
    public enum Decision: Sendable, Hashable {
        /// No lease exists: create it with this spec.
        case create(LeaseSpec)
        /// Take or renew the lease: update it with this spec.
        case update(LeaseSpec)
        /// Someone else holds a live lease.
        case heldByOther(holder: String)
    }

    public let identity: String
    public let leaseDuration: Duration
    private var observedRecord: LeaseSpec?
    private var observedAt: ContinuousClock.Instant?

    public init(identity: String, leaseDuration: Duration) {
        self.identity = identity
        self.leaseDuration = leaseDuration
    }

    /// Decides what to do with the current lease (`nil` when there is none) at local time `now`;
    /// `wallClock` stamps the record.
    public mutating func decide(current: LeaseSpec?, now: ContinuousClock.Instant, wallClock: Date) -> Decision {
        let stamp = KubeTime.formatMicro(wallClock)
        let seconds = Int(leaseDuration.seconds.rounded(.up))
        guard let current else {
            return .create(LeaseSpec(holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0))
        }
        if observedRecord != current {
            observedRecord = current
            observedAt = now
        }
        let holder = current.holderIdentity ?? ""
        if !holder.isEmpty, holder != identity, let observedAt {
            let theirDuration = current.leaseDurationSeconds.map { Duration.seconds($0) } ?? leaseDuration
            if now < observedAt + theirDuration {
                return .heldByOther(holder: holder)
            }
        }
        var next = LeaseSpec(holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: stamp, renewTime: stamp, leaseTransitions: current.leaseTransitions ?? 0)
        if holder == identity {
            next.acquireTime = current.acquireTime ?? stamp
        } else {
            next.leaseTransitions = (current.leaseTransitions ?? 0) + 1
        }
        return .update(next)
    }

    /// Records a successful write so that our own record is not mistaken for a change.
    public mutating func written(_ spec: LeaseSpec, now: ContinuousClock.Instant) {
        observedRecord = spec
        observedAt = now
    }

    /// The spec that gives the lease up on shutdown: no holder, expiring in one second, so the
    /// next candidate takes over at once (client-go's `ReleaseOnCancel`).
    public func release(current: LeaseSpec, wallClock: Date) -> LeaseSpec? {
        guard current.holderIdentity == identity else { return nil }
        let stamp = KubeTime.formatMicro(wallClock)
        return LeaseSpec(holderIdentity: "", leaseDurationSeconds: 1, acquireTime: stamp, renewTime: stamp, leaseTransitions: current.leaseTransitions)
    }
}
