import CoreMetrics
import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import SeccompCompiler
import SeccompKit
import Synchronization

/// Where the daemon runs and what it manages.
public struct DaemonIdentity: Sendable {
    public var nodeName: String
    public var operatorNamespace: String
    public var spodName: String

    public init(nodeName: String, operatorNamespace: String, spodName: String = SecurityProfilesOperatorDaemon.defaultName) {
        self.nodeName = nodeName
        self.operatorNamespace = operatorNamespace
        self.spodName = spodName
    }
}

/// Installs one node's share of every SeccompProfile (reference §3.3 and §3.7, with the
/// deviations the project chose): the profile file under the kubelet's seccomp directory,
/// this node's finalizer on the profile and this node's SecurityProfileNodeStatus.
///
/// It is level-based and reacts to events only: no fixed requeue delays. Problems with the
/// profile itself (a missing base, a disallowed or uncompilable profile) are reported as
/// `Error` on the node status with an event and a metric, and nothing is written; the profile
/// is reconciled again when it, its base or the spod changes.
public struct SeccompProfileReconciler: Reconciler {
    public let identity: DaemonIdentity
    let profiles: Store<SeccompProfile>
    let spods: Store<SecurityProfilesOperatorDaemon>
    /// This node's finalizer and status on each profile.
    let nodeStatus: NodeProfileStatus<SeccompProfile>
    let directory: SeccompProfileDirectory
    /// Outcomes waiting for the status pass, and its queue.
    let outcomes: OutcomeBook
    let statusQueue: WorkQueue<ObjectKey>
    let events: EventRecorder
    let builtInProfiles: [String: SeccompProfile.Spec]
    let metrics: ProfileCounters<OperatorMetric.SeccompErrorReason>
    /// Whether this node's kernel enforces seccomp filters; when not, every profile is an
    /// `Error` (`SeccompNotSupportedOnNode`) and nothing is written.
    let seccompSupported: Bool

    public init(
        identity: DaemonIdentity,
        profiles: Store<SeccompProfile>,
        spods: Store<SecurityProfilesOperatorDaemon>,
        nodeStatuses: Store<SecurityProfileNodeStatus>,
        client: KubernetesClient,
        directory: SeccompProfileDirectory,
        outcomes: OutcomeBook,
        statusQueue: WorkQueue<ObjectKey>,
        events: EventRecorder,
        builtInProfiles: [String: SeccompProfile.Spec] = [:],
        seccompSupported: Bool = true,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.identity = identity
        self.profiles = profiles
        self.spods = spods
        self.nodeStatus = NodeProfileStatus(identity: identity, client: client, nodeStatuses: nodeStatuses)
        self.directory = directory
        self.outcomes = outcomes
        self.statusQueue = statusQueue
        self.events = events
        self.builtInProfiles = builtInProfiles
        self.seccompSupported = seccompSupported
        self.metrics = ProfileCounters(operations: .seccompProfile, errors: .seccompProfileError, factory: metricsFactory ?? MetricsSystem.factory)
    }

    public func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult {
        guard let namespace = key.namespace else { return .done }
        // The reference a pod's securityContext uses for this profile.
        var logger = logger
        logger[metadataKey: "spo.profile"] = "\(ProfileFile.localhostProfile(namespace: namespace, name: key.name))"
        guard let profile = profiles.get(key) else {
            // Gone from the API (e.g. deleted while the daemon was down): no file may stay behind.
            if try directory.remove(namespace: namespace, name: key.name) {
                metrics.profileChanged(.delete)
                logger.info("seccomp.profile.orphan_removed")
            }
            return .done
        }
        if profile.metadata.deletionTimestamp != nil {
            return try delete(profile, key: key, logger: logger)
        }
        // Decide and act on the node first (pure work and one file write), then tell the API
        // in as few requests as possible: one profile update, one node-status write.
        var state: ProfileState
        var merged: SeccompProfile.Spec?
        var saved = false
        var problem: ProfilePreparation.Problem?
        if profile.spec?.disabled == true || profile.metadata.labels?[SPOMetadata.partialLabel] != nil {
            state = profile.spec?.disabled == true ? .disabled : .partial
            if try directory.remove(namespace: namespace, name: key.name) { metrics.profileChanged(.delete) }
        } else {
            switch prepare(profile) {
            case .success(let spec):
                merged = spec
                state = .installed
                if logger.logLevel <= .debug, let size = try? SeccompFilter.compile(spec).bpfInstructionCount() {
                    logger.debug("seccomp.profile.compiled", metadata: ["bpf.instructions": "\(size)"])
                }
                do {
                    saved = try directory.install(ProfileFile.render(spec), namespace: namespace, name: key.name) == .written
                } catch {
                    state = .error
                    problem = ProfilePreparation.Problem(reason: .cannotSave, message: "\(error)")
                }
            case .failure(let rejection):
                state = .error
                problem = rejection
                if try directory.remove(namespace: namespace, name: key.name) { metrics.profileChanged(.delete) }
            }
        }

        // The API side (metadata, node status, events) is a separate pass with its own queue,
        // so that installing files on the node never waits for the API's request budget.
        if saved {
            metrics.profileChanged(.update)
            logger.info("seccomp.profile.saved", metadata: ["path": "\(ProfileFile.localhostProfile(namespace: namespace, name: key.name))"])
        }
        if let problem {
            logger.warning("seccomp.profile.rejected", metadata: ["reason": "\(problem.reason.rawValue)", "error": "\(problem.message)"])
            metrics.error(problem.reason)
        }
        handOver(key, NodeOutcome(state: state, merged: merged, saved: saved, problem: problem))
        // A failed write is worth retrying; a rejected profile waits for a change.
        if problem?.reason == .cannotSave {
            throw FileSystemError("install", "\(namespace)/\(key.name)", code: EIO)
        }
        return .done
    }

    /// The API side of an outcome: this node's finalizer, labels and the `syscalls`
    /// annotation on the profile, the node status, and the events.
    func publish(_ outcome: NodeOutcome, for profile: SeccompProfile) async throws {
        guard try await updateProfileMetadata(profile, merged: outcome.merged) else { return }
        try await nodeStatus.write(outcome.state, message: outcome.problem?.message, for: profile)
        if outcome.saved {
            await events.record(profile, type: .normal, reason: "SavedSeccompProfile", message: "Successfully saved profile to disk on \(identity.nodeName)")
        }
        if let problem = outcome.problem {
            await events.record(profile, type: .warning, reason: problem.reason.rawValue, message: problem.message)
        }
    }

    // MARK: Preparing the file

    func prepare(_ profile: SeccompProfile) -> Result<SeccompProfile.Spec, ProfilePreparation.Problem> {
        let namespace = profile.metadata.namespace
        let preparation = ProfilePreparation(
            lookup: { name in profiles.get(name: name, namespace: namespace)?.spec ?? builtInProfiles[name] },
            spod: spods.get(name: identity.spodName, namespace: identity.operatorNamespace)?.spec,
            unsupportedOnNode: seccompSupported ? nil : identity.nodeName)
        return preparation.prepare(profile)
    }

    // MARK: API objects

    /// This node's finalizer, the profile-id label and the `syscalls` annotation (the merged
    /// rules, as upstream writes them). False when the profile is gone.
    private func updateProfileMetadata(_ profile: SeccompProfile, merged: SeccompProfile.Spec?) async throws -> Bool {
        try await nodeStatus.claim(profile, annotations: merged.map { [SPOMetadata.syscallsAnnotation: ProfileFile.syscallsAnnotation($0.syscalls)] } ?? [:])
    }

    // MARK: Deletion

    /// The node side of a deletion: the file goes unless pods still use the profile; the
    /// status pass then releases the profile (this node's finalizer and status) or shows it
    /// `Terminating`. The file never waits for the API's request budget.
    private func delete(_ profile: SeccompProfile, key: ObjectKey, logger: Logger) throws -> ReconcileResult {
        guard !NodeProfileStatus<SeccompProfile>.isInUse(profile) else {
            handOver(key, NodeOutcome(state: .terminating, merged: nil, saved: false))
            return .done
        }
        do {
            if try directory.remove(namespace: key.namespace ?? "", name: key.name) {
                metrics.profileChanged(.delete)
                logger.info("seccomp.profile.removed")
            }
        } catch {
            // Retried by the controller; the status pass reports it once per failure.
            metrics.error(.cannotRemove)
            handOver(key, NodeOutcome(state: .terminating, merged: nil, saved: false, problem: .init(reason: .cannotRemove, message: "\(error)")))
            throw error
        }
        handOver(key, NodeOutcome(state: .terminating, merged: nil, saved: false, released: true))
        return .done
    }

    /// Leaves `outcome` for the status pass to publish.
    private func handOver(_ key: ObjectKey, _ outcome: NodeOutcome) {
        outcomes.record(key, outcome)
        statusQueue.add(key)
    }

    /// The API side of a deletion's outcome: the profile released, or `Terminating` (with the
    /// event of a failed removal).
    func publishDeletion(_ outcome: NodeOutcome, for profile: SeccompProfile) async throws {
        if let problem = outcome.problem {
            await events.record(profile, type: .warning, reason: problem.reason.rawValue, message: problem.message)
        }
        if outcome.released {
            try await nodeStatus.release(profile)
        } else {
            try await nodeStatus.markTerminating(profile)
        }
    }
}

/// What the node-side pass decided for a profile, for the status pass to publish.
public struct NodeOutcome: Sendable, Hashable {
    var state: ProfileState
    var merged: SeccompProfile.Spec?
    var saved: Bool
    var problem: ProfilePreparation.Problem?
    /// For a profile being deleted: whether it is gone from the node, so this node may let it go.
    var released = false
    /// Distinguishes outcomes of the same profile, so a newer one is never dropped.
    var sequence: UInt64 = 0
}

/// Outcomes not yet published, by profile key. A newer outcome replaces an older one, but a
/// pending "saved" is kept so the event is not lost.
public final class OutcomeBook: Sendable {
    private let state = Mutex<(next: UInt64, outcomes: [ObjectKey: NodeOutcome])>((0, [:]))

    public init() {}

    func record(_ key: ObjectKey, _ outcome: NodeOutcome) {
        state.withLock { state in
            var outcome = outcome
            state.next += 1
            outcome.sequence = state.next
            if state.outcomes[key]?.saved == true, outcome.state == .installed { outcome.saved = true }
            state.outcomes[key] = outcome
        }
    }

    func pending(_ key: ObjectKey) -> NodeOutcome? { state.withLock { $0.outcomes[key] } }

    /// Forgets `outcome` once published, unless a newer one arrived meanwhile.
    func published(_ key: ObjectKey, _ outcome: NodeOutcome) {
        state.withLock { state in
            if state.outcomes[key]?.sequence == outcome.sequence { state.outcomes.removeValue(forKey: key) }
            // A burst grows the table to its size; once it is drained, give that memory back.
            if state.outcomes.isEmpty { state.outcomes = [:] }
        }
    }
}

/// The status pass: publishes a profile's latest node outcome through the API, retried with
/// backoff on failure.
struct SeccompStatusReconciler: Reconciler {
    let files: SeccompProfileReconciler

    func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult {
        guard let outcome = files.outcomes.pending(key) else { return .done }
        // An outcome from before a deletion (or from during one, once the profile is gone) has
        // nothing left to say: the newer outcome, if any, follows.
        guard let profile = files.profiles.get(key), (profile.metadata.deletionTimestamp != nil) == (outcome.state == .terminating) else {
            files.outcomes.published(key, outcome)
            return .done
        }
        do {
            if outcome.state == .terminating {
                try await files.publishDeletion(outcome, for: profile)
            } else {
                try await files.publish(outcome, for: profile)
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // Retried by the controller; counted as upstream counts a failed node status write.
            files.metrics.error(.cannotUpdateNodeStatus)
            throw error
        }
        files.outcomes.published(key, outcome)
        return .done
    }
}
