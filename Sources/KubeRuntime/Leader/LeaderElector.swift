import Foundation
import KubeClient
import KubeModels
import Logging
import ServiceLifecycle
import Synchronization

/// Why leader election stopped the process's leadership.
public struct LeaderElectionError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Leader election on a `coordination.k8s.io/v1` Lease. Run it as a `Service`; leader-only
/// work waits on ``waitUntilLeader()``.
///
/// Losing the lease (no successful renewal within `renewDeadline`) makes ``run()`` throw, so a
/// `ServiceGroup` stops the process, as controller-runtime does. On graceful shutdown the
/// lease is released so another replica takes over at once.
public final class LeaderElector: Service, Sendable {
    /// Timing and identity (client-go's defaults: 15 s, 10 s, 2 s).
    public struct Configuration: Sendable {
        public var leaseName: String
        public var namespace: String
        public var identity: String
        public var leaseDuration: Duration
        public var renewDeadline: Duration
        public var retryPeriod: Duration

        public init(
            leaseName: String,
            namespace: String,
            identity: String,
            leaseDuration: Duration = .seconds(15),
            renewDeadline: Duration = .seconds(10),
            retryPeriod: Duration = .seconds(2)
        ) {
            self.leaseName = leaseName
            self.namespace = namespace
            self.identity = identity
            self.leaseDuration = leaseDuration
            self.renewDeadline = renewDeadline
            self.retryPeriod = retryPeriod
        }
    }

    public let configuration: Configuration
    private let leases: ResourceClient<Lease>
    private let logger: Logger
    private let machine: Mutex<LeaderElectionStateMachine>
    private let state = Mutex<(leading: Bool, finished: Bool, waiters: [CheckedContinuation<Bool, Never>])>((false, false, []))

    public init(client: KubernetesClient, configuration: Configuration, logger: Logger = Logger(label: "kube.leader")) {
        self.configuration = configuration
        self.leases = client.resource(Lease.self)
        self.machine = Mutex(LeaderElectionStateMachine(identity: configuration.identity, leaseDuration: configuration.leaseDuration))
        var logger = logger
        logger[metadataKey: "lease"] = "\(configuration.namespace)/\(configuration.leaseName)"
        logger[metadataKey: "identity"] = "\(configuration.identity)"
        self.logger = logger
    }

    public var isLeader: Bool { state.withLock { $0.leading } }

    /// Returns `true` once this process leads, or `false` if the elector stopped first.
    public func waitUntilLeader() async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let answer = state.withLock { state -> Bool? in
                if state.leading { return true }
                if state.finished { return false }
                state.waiters.append(continuation)
                return nil
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }

    public func run() async throws {
        defer { setFinished() }
        do {
            try await cancelWhenGracefulShutdown {
                try await self.acquire()
                try await self.renew()
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            // Graceful shutdown: give the lease up for the next replica.
        }
        if Task.isShuttingDownGracefully, isLeader {
            await release()
        }
    }

    private func acquire() async throws {
        logger.info("kube.leader.acquiring")
        while true {
            if try await tryAcquireOrRenew() {
                setLeading()
                logger.info("kube.leader.acquired")
                return
            }
            try await Task.sleep(for: configuration.retryPeriod * (1 + 0.2 * Double.random(in: 0..<1)))
        }
    }

    private func renew() async throws {
        var lastRenewal = ContinuousClock.now
        while true {
            try await Task.sleep(for: configuration.retryPeriod)
            let renewed: Bool
            do {
                renewed = try await tryAcquireOrRenew()
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                logger.warning("kube.leader.renew_failed", metadata: ["error": "\(error)"])
                renewed = false
            }
            if renewed {
                lastRenewal = .now
            } else if ContinuousClock.now - lastRenewal > configuration.renewDeadline {
                state.withLock { $0.leading = false }
                logger.error("kube.leader.lost")
                throw LeaderElectionError(message: "lost leadership of lease \(configuration.namespace)/\(configuration.leaseName)")
            }
        }
    }

    /// One attempt; `true` when we hold the lease afterwards.
    private func tryAcquireOrRenew() async throws -> Bool {
        let current: Lease?
        do {
            current = try await leases.get(configuration.leaseName, namespace: configuration.namespace)
        } catch let error as KubeAPIError where error.isNotFound {
            current = nil
        }
        let decision = machine.withLock { $0.decide(current: current.map { $0.spec ?? LeaseSpec() }, now: .now, wallClock: Date()) }
        switch decision {
        case .heldByOther:
            return false
        case .create(let spec):
            do {
                _ = try await leases.create(Lease(metadata: ObjectMeta(name: configuration.leaseName, namespace: configuration.namespace), spec: spec))
            } catch let error as KubeAPIError where error.isAlreadyExists {
                return false
            }
            machine.withLock { $0.written(spec, now: .now) }
            return true
        case .update(let spec):
            guard var lease = current else { return false }
            lease.spec = spec
            do {
                _ = try await leases.update(lease)
            } catch let error as KubeAPIError where error.isConflict {
                return false
            }
            machine.withLock { $0.written(spec, now: .now) }
            return true
        }
    }

    private func release() async {
        do {
            var lease = try await leases.get(configuration.leaseName, namespace: configuration.namespace)
            guard let spec = machine.withLock({ $0 }).release(current: lease.spec ?? LeaseSpec(), wallClock: Date()) else { return }
            lease.spec = spec
            _ = try await leases.update(lease)
            logger.info("kube.leader.released")
        } catch {
            logger.warning("kube.leader.release_failed", metadata: ["error": "\(error)"])
        }
        state.withLock { $0.leading = false }
    }

    private func setLeading() {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.leading = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        waiters.forEach { $0.resume(returning: true) }
    }

    private func setFinished() {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.finished = true
            state.leading = false
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        waiters.forEach { $0.resume(returning: false) }
    }
}
