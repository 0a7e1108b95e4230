import CoreMetrics
import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import SeccompCompiler
import SeccompKit

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

/// The seccomp counters with the upstream names (reference §7.2), through swift-metrics.
struct SeccompMetrics: Sendable {
    let factory: any MetricsFactory

    func profileChanged(_ operation: String) {
        Counter(label: "security_profiles_operator_seccomp_profile_total", dimensions: [("operation", operation)], factory: factory).increment()
    }

    func error(_ reason: String) {
        Counter(label: "security_profiles_operator_seccomp_profile_error_total", dimensions: [("reason", reason)], factory: factory).increment()
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
    let client: KubernetesClient
    let directory: SeccompProfileDirectory
    let events: EventRecorder
    let builtInProfiles: [String: SeccompProfile.Spec]
    let metrics: SeccompMetrics

    public init(
        identity: DaemonIdentity,
        profiles: Store<SeccompProfile>,
        spods: Store<SecurityProfilesOperatorDaemon>,
        client: KubernetesClient,
        directory: SeccompProfileDirectory,
        events: EventRecorder,
        builtInProfiles: [String: SeccompProfile.Spec] = [:],
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.identity = identity
        self.profiles = profiles
        self.spods = spods
        self.client = client
        self.directory = directory
        self.events = events
        self.builtInProfiles = builtInProfiles
        self.metrics = SeccompMetrics(factory: metricsFactory ?? MetricsSystem.factory)
    }

    var finalizer: String { ProfileIdentity.nodeFinalizer(nodeName: identity.nodeName) }

    public func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult {
        guard let namespace = key.namespace else { return .done }
        guard let profile = profiles.get(key) else {
            // Gone from the API (e.g. deleted while the daemon was down): no file may stay behind.
            if try directory.remove(namespace: namespace, name: key.name) {
                metrics.profileChanged("delete")
                logger.info("seccomp.profile.orphan_removed")
            }
            return .done
        }
        if profile.metadata.deletionTimestamp != nil {
            return try await delete(profile, logger: logger)
        }
        try await ensureFinalizerAndLabel(profile)
        var nodeStatus = try await ensureNodeStatus(profile)

        if profile.spec?.disabled == true || profile.metadata.labels?[SPOMetadata.partialLabel] != nil {
            let state: ProfileState = profile.spec?.disabled == true ? .disabled : .partial
            if try directory.remove(namespace: namespace, name: key.name) { metrics.profileChanged("delete") }
            try await setState(state, on: &nodeStatus)
            return .done
        }

        let spec: SeccompProfile.Spec
        switch prepare(profile) {
        case .success(let prepared):
            spec = prepared
        case .failure(let problem):
            logger.warning("seccomp.profile.rejected", metadata: ["reason": "\(problem.reason)", "error": "\(problem.message)"])
            metrics.error(problem.reason)
            await events.record(profile, type: .warning, reason: problem.reason, message: problem.message)
            if try directory.remove(namespace: namespace, name: key.name) { metrics.profileChanged("delete") }
            try await setState(.error, on: &nodeStatus)
            return .done
        }

        if logger.logLevel <= .debug, let size = try? SeccompFilter.compile(spec).bpfInstructionCount() {
            logger.debug("seccomp.profile.compiled", metadata: ["bpf.instructions": "\(size)"])
        }
        let bytes = ProfileFile.render(spec)
        do {
            if try directory.install(bytes, namespace: namespace, name: key.name) == .written {
                metrics.profileChanged("update")
                logger.info("seccomp.profile.saved", metadata: ["path": "\(ProfileFile.localhostProfile(namespace: namespace, name: key.name))"])
                await events.record(profile, type: .normal, reason: "SavedSeccompProfile", message: "Successfully saved profile to disk on \(identity.nodeName)")
            }
        } catch {
            metrics.error("CannotSaveSeccompProfile")
            await events.record(profile, type: .warning, reason: "CannotSaveSeccompProfile", message: "\(error)")
            try await setState(.error, on: &nodeStatus)
            throw error
        }
        try await updateSyscallsAnnotation(profile, merged: spec)
        try await setState(.installed, on: &nodeStatus)
        return .done
    }

    // MARK: Preparing the file

    func prepare(_ profile: SeccompProfile) -> Result<SeccompProfile.Spec, ProfilePreparation.Problem> {
        let namespace = profile.metadata.namespace
        let preparation = ProfilePreparation(
            lookup: { name in profiles.get(name: name, namespace: namespace)?.spec ?? builtInProfiles[name] },
            spod: spods.get(name: identity.spodName, namespace: identity.operatorNamespace)?.spec)
        return preparation.prepare(profile)
    }

    // MARK: API objects

    private func ensureFinalizerAndLabel(_ profile: SeccompProfile) async throws {
        let id = ProfileIdentity.profileID(kind: SeccompProfile.kind, name: profile.metadata.name ?? "")
        let hasFinalizer = profile.metadata.finalizers?.contains(finalizer) == true
        let hasLabel = profile.metadata.labels?[SPOMetadata.profileIDLabel] != nil
        if hasFinalizer, hasLabel { return }
        let finalizer = self.finalizer
        _ = try await client.resource(SeccompProfile.self).update(profile.metadata.name ?? "", namespace: profile.metadata.namespace) { object in
            if object.metadata.finalizers?.contains(finalizer) != true {
                object.metadata.finalizers = (object.metadata.finalizers ?? []) + [finalizer]
            }
            if object.metadata.labels?[SPOMetadata.profileIDLabel] == nil {
                object.metadata.labels = (object.metadata.labels ?? [:]).merging([SPOMetadata.profileIDLabel: id]) { $1 }
            }
        }
    }

    private func ensureNodeStatus(_ profile: SeccompProfile) async throws -> SecurityProfileNodeStatus {
        let statuses = client.resource(SecurityProfileNodeStatus.self)
        let name = ProfileIdentity.nodeStatusName(profileName: profile.metadata.name ?? "", nodeName: identity.nodeName)
        do {
            return try await statuses.get(name, namespace: profile.metadata.namespace)
        } catch let error as KubeAPIError where error.isNotFound {
            let initial: ProfileState = profile.spec?.disabled == true ? .disabled
                : profile.metadata.labels?[SPOMetadata.partialLabel] != nil ? .partial : .pending
            do {
                return try await statuses.create(ProfileIdentity.nodeStatus(for: profile, nodeName: identity.nodeName, state: initial))
            } catch let error as KubeAPIError where error.isAlreadyExists {
                return try await statuses.get(name, namespace: profile.metadata.namespace)
            }
        }
    }

    private func setState(_ state: ProfileState, on status: inout SecurityProfileNodeStatus) async throws {
        guard status.status != state || status.metadata.labels?[SPOMetadata.profileStateLabel] != state.rawValue else { return }
        status.status = state
        status.metadata.labels = (status.metadata.labels ?? [:]).merging([SPOMetadata.profileStateLabel: state.rawValue]) { $1 }
        do {
            status = try await client.resource(SecurityProfileNodeStatus.self).update(status)
        } catch let error as KubeAPIError where error.isConflict {
            // Someone else changed it: start over from a fresh copy.
            var fresh = try await client.resource(SecurityProfileNodeStatus.self).get(status.metadata.name ?? "", namespace: status.metadata.namespace)
            fresh.status = state
            fresh.metadata.labels = (fresh.metadata.labels ?? [:]).merging([SPOMetadata.profileStateLabel: state.rawValue]) { $1 }
            status = try await client.resource(SecurityProfileNodeStatus.self).update(fresh)
        }
    }

    /// The `syscalls` annotation carries the merged rules, as upstream writes it.
    private func updateSyscallsAnnotation(_ profile: SeccompProfile, merged: SeccompProfile.Spec) async throws {
        let value: String
        if let syscalls = merged.syscalls {
            value = String(decoding: try JSONEncoder().encode(syscalls), as: UTF8.self)
        } else {
            value = "null"
        }
        guard profile.metadata.annotations?[SPOMetadata.syscallsAnnotation] != value else { return }
        _ = try await client.resource(SeccompProfile.self).patch(
            profile.metadata.name ?? "", namespace: profile.metadata.namespace,
            patch: .merge(["metadata": ["annotations": [.init(stringLiteral: SPOMetadata.syscallsAnnotation): .string(value)]]]))
    }

    // MARK: Deletion

    private func delete(_ profile: SeccompProfile, logger: Logger) async throws -> ReconcileResult {
        let namespace = profile.metadata.namespace ?? ""
        let name = profile.metadata.name ?? ""
        let statuses = client.resource(SecurityProfileNodeStatus.self)
        let statusName = ProfileIdentity.nodeStatusName(profileName: name, nodeName: identity.nodeName)
        var status = try? await statuses.get(statusName, namespace: namespace)
        if var current = status, current.status != .terminating {
            try await setState(.terminating, on: &current)
            status = current
        }
        // Pods still use it: keep the file; the finalizer's removal brings us back.
        if profile.metadata.finalizers?.contains(SPOMetadata.inUseFinalizer) == true { return .done }

        do {
            if try directory.remove(namespace: namespace, name: name) { metrics.profileChanged("delete") }
        } catch {
            metrics.error("CannotRemoveSeccompProfile")
            await events.record(profile, type: .warning, reason: "CannotRemoveSeccompProfile", message: "\(error)")
            throw error
        }
        if profile.metadata.finalizers?.contains(finalizer) == true {
            let finalizer = self.finalizer
            do {
                _ = try await client.resource(SeccompProfile.self).update(name, namespace: namespace) { object in
                    object.metadata.finalizers?.removeAll { $0 == finalizer }
                }
            } catch let error as KubeAPIError where error.isNotFound {
                // Already gone.
            }
        }
        if status != nil {
            do {
                try await statuses.delete(statusName, namespace: namespace)
            } catch let error as KubeAPIError where error.isNotFound {
                // Garbage-collected with its owner already.
            }
        }
        logger.info("seccomp.profile.removed")
        return .done
    }
}
