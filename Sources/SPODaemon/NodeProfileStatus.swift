import CoreMetrics
import KubeClient
import KubeModels
import KubeRuntime
import SPOAPI
import Synchronization

/// One node's share of a profile in the API, the same for every profile kind (reference
/// §2.3-§2.5): this node's finalizer and the profile-id label on the profile, this node's
/// SecurityProfileNodeStatus with its state (and why, for an error), and the deletion
/// hand-shake (Terminating, held while pods use the profile, then finalizer and status gone).
///
/// Every write goes through the informers' cached copies and happens only when something
/// differs, so resyncs cost no requests.
public struct NodeProfileStatus<Profile: KubeResource>: Sendable {
    public let identity: DaemonIdentity
    let client: KubernetesClient
    /// This node's SecurityProfileNodeStatuses (an informer filtered by the node-name label).
    let nodeStatuses: Store<SecurityProfileNodeStatus>

    public init(identity: DaemonIdentity, client: KubernetesClient, nodeStatuses: Store<SecurityProfileNodeStatus>) {
        self.identity = identity
        self.client = client
        self.nodeStatuses = nodeStatuses
    }

    /// `<node>-deleted`, this node's finalizer on every profile it installed.
    public var finalizer: String { ProfileIdentity.nodeFinalizer(nodeName: identity.nodeName) }

    /// Adds this node's finalizer and the profile-id label, and sets `annotations`, when any
    /// differs from `profile` (an informer's copy, whose annotations may be fingerprints, see
    /// ``AnnotationFingerprint``). One JSON merge patch of just these fields, so a trimmed
    /// cached copy is never written back; a changed finalizer list carries the resourceVersion,
    /// and a conflict reads the object again and retries.
    ///
    /// Returns false when the profile no longer exists (deleted before this node claimed it):
    /// there is nothing left to report, and its deletion reaches the reconciler as an event.
    @discardableResult
    public func claim(_ profile: Profile, annotations: [String: String] = [:]) async throws -> Bool {
        let name = profile.metadata.name ?? "", namespace = profile.metadata.namespace
        var current = profile
        var attempt = 1
        do {
            while let patch = claimPatch(for: current, annotations: annotations) {
                do {
                    try await client.resource(Profile.self).patchDiscardingResult(name, namespace: namespace, patch: .merge(patch))
                    return true
                } catch let error as KubeAPIError where error.isConflict && attempt < 5 {
                    attempt += 1
                    current = try await client.resource(Profile.self).get(name, namespace: namespace)
                }
            }
        } catch let error as KubeAPIError where error.isNotFound {
            return false
        }
        return true
    }

    /// The merge patch that claims `object` for this node, or nil when nothing differs.
    func claimPatch(for object: Profile, annotations: [String: String]) -> JSONValue? {
        var metadata: [String: JSONValue] = [:]
        if object.metadata.finalizers?.contains(finalizer) != true {
            // A merge patch replaces the whole list: only against the version it was read from.
            metadata["finalizers"] = .array(((object.metadata.finalizers ?? []) + [finalizer]).map(JSONValue.string))
            metadata["resourceVersion"] = object.metadata.resourceVersion.map(JSONValue.string)
        }
        if object.metadata.labels?[SPOMetadata.profileIDLabel] == nil {
            metadata["labels"] = [SPOMetadata.profileIDLabel: .string(ProfileIdentity.profileID(kind: Profile.kind, name: object.metadata.name ?? ""))]
        }
        let changed = annotations.filter { !AnnotationFingerprint.matches(object.metadata.annotations?[$0.key], $0.value) }
        if !changed.isEmpty { metadata["annotations"] = .object(changed.mapValues(JSONValue.string)) }
        return metadata.isEmpty ? nil : ["metadata": .object(metadata)]
    }

    /// This node's status of `profile`, from the cache.
    public func current(of profile: Profile) -> SecurityProfileNodeStatus? {
        nodeStatuses.get(name: statusName(profile), namespace: profile.metadata.namespace)
    }

    /// Creates this node's status with `state` (and why, for an error), or updates it when
    /// either differs.
    public func write(_ state: ProfileState, message: String? = nil, for profile: Profile) async throws {
        let statuses = client.resource(SecurityProfileNodeStatus.self)
        var current = current(of: profile)
        if current == nil {
            do {
                var status = ProfileIdentity.nodeStatus(for: profile, nodeName: identity.nodeName, state: state)
                if let message { status.metadata.annotations = [SPOMetadata.statusMessageAnnotation: message] }
                try await statuses.createDiscardingResult(status)
                return
            } catch let error as KubeAPIError where error.isAlreadyExists {
                // Created moments ago and not yet in the cache.
                current = try await statuses.get(statusName(profile), namespace: profile.metadata.namespace)
            }
        }
        guard let status = current else { return }
        try await set(state, message: message, on: status)
    }

    private func set(_ state: ProfileState, message: String?, on status: SecurityProfileNodeStatus) async throws {
        guard status.status != state || status.metadata.labels?[SPOMetadata.profileStateLabel] != state.rawValue
            || status.metadata.annotations?[SPOMetadata.statusMessageAnnotation] != message else { return }
        try await client.resource(SecurityProfileNodeStatus.self).updateDiscardingResult(cached: status) { object in
            object.status = state
            object.metadata.labels = (object.metadata.labels ?? [:]).merging([SPOMetadata.profileStateLabel: state.rawValue]) { $1 }
            object.metadata.annotations?[SPOMetadata.statusMessageAnnotation] = nil
            if let message { object.metadata.annotations = (object.metadata.annotations ?? [:]).merging([SPOMetadata.statusMessageAnnotation: message]) { $1 } }
            if object.metadata.annotations?.isEmpty == true { object.metadata.annotations = nil }
        }
    }

    /// The deletion of a profile being deleted: while pods still use the profile
    /// (`in-use-by-active-pods`) this node's status is `Terminating` and nothing else happens;
    /// the finalizer's removal brings the profile back. Then `uninstall` removes it from the
    /// node (returning false while the removal is still under way, with the status
    /// `Terminating` meanwhile), and only once it is gone is the profile released (see
    /// ``release(_:)``). Uninstalling comes before any request, so a node does not keep a
    /// deleted profile while its API requests wait for the client's rate limit. Returns whether
    /// the profile was released.
    @discardableResult
    public func delete(_ profile: Profile, uninstall: () async throws -> Bool) async throws -> Bool {
        if Self.isInUse(profile) {
            try await markTerminating(profile)
            return false
        }
        guard try await uninstall() else {
            try await markTerminating(profile)
            return false
        }
        try await release(profile)
        return true
    }

    /// Whether pods still use `profile` (the manager's `in-use-by-active-pods` finalizer), so
    /// that it must stay on the node.
    public static func isInUse(_ profile: Profile) -> Bool {
        profile.metadata.finalizers?.contains(SPOMetadata.inUseFinalizer) == true
    }

    /// This node's status of a profile being deleted: `Terminating`.
    public func markTerminating(_ profile: Profile) async throws {
        if let status = current(of: profile), status.status != .terminating {
            try await set(.terminating, message: nil, on: status)
        }
    }

    /// Lets a profile that is gone from this node go: this node's finalizer and status are
    /// removed (either already gone is fine).
    public func release(_ profile: Profile) async throws {
        let namespace = profile.metadata.namespace
        if profile.metadata.finalizers?.contains(finalizer) == true {
            let finalizer = self.finalizer
            do {
                _ = try await client.resource(Profile.self).update(profile.metadata.name ?? "", namespace: namespace) { object in
                    object.metadata.finalizers?.removeAll { $0 == finalizer }
                }
            } catch let error as KubeAPIError where error.isNotFound {
                // Already gone.
            }
        }
        if current(of: profile) != nil {
            do {
                try await client.resource(SecurityProfileNodeStatus.self).delete(statusName(profile), namespace: namespace)
            } catch let error as KubeAPIError where error.isNotFound {
                // Garbage-collected with its owner already.
            }
        }
    }

    private func statusName(_ profile: Profile) -> String {
        ProfileIdentity.nodeStatusName(profileName: profile.metadata.name ?? "", nodeName: identity.nodeName)
    }
}

/// A profile kind's two counters with the upstream names (reference §7.2), through
/// swift-metrics: operations (`update`, `delete`) and errors by reason.
struct ProfileCounters<Reason: RawRepresentable<String> & Sendable>: Sendable {
    let operations: OperatorMetric
    let errors: OperatorMetric
    let factory: any MetricsFactory

    func profileChanged(_ operation: OperatorMetric.Operation) {
        Counter(label: operations.name, dimensions: [(OperatorMetric.Label.operation, operation.rawValue)], factory: factory).increment()
    }

    func error(_ reason: Reason) {
        Counter(label: errors.name, dimensions: [(OperatorMetric.Label.reason, reason.rawValue)], factory: factory).increment()
    }
}

/// How one node reports a profile of a kind whose installation takes a while (AppArmor,
/// SELinux): the node status, and the event and counter of a change, each once. A problem
/// already reported (remembered since the start, or shown by the node status after a
/// restart) is not reported again, so resyncs and restarts send no events and count nothing.
final class NodeProfileReport<Profile: KubeResource, Reason: RawRepresentable<String> & Sendable>: Sendable {
    let nodeStatus: NodeProfileStatus<Profile>
    let events: EventRecorder
    let counters: ProfileCounters<Reason>
    /// The last problem reported per profile (by uid): the informer's copy of the node status
    /// lags behind its writes.
    private let reported = Mutex<[String: String]>([:])

    init(nodeStatus: NodeProfileStatus<Profile>, events: EventRecorder, counters: ProfileCounters<Reason>) {
        self.nodeStatus = nodeStatus
        self.events = events
        self.counters = counters
    }

    /// Longest message put into a node status annotation and an event.
    static var maximumMessageLength: Int { 1024 }

    /// `Error` with `message` on this node, with a Warning event `reason` and the error counter
    /// unless this problem was reported already.
    func failed(_ profile: Profile, _ reason: Reason, _ message: String) async throws {
        let message = message.count > Self.maximumMessageLength ? String(message.prefix(Self.maximumMessageLength - 1)) + "…" : message
        let current = nodeStatus.current(of: profile)
        let shown = current?.status == .error && current?.metadata.annotations?[SPOMetadata.statusMessageAnnotation] == message
        let uid = profile.metadata.uid ?? ""
        let known = reported.withLock { reported in
            defer { reported[uid] = message }
            return reported[uid] == message
        }
        if !shown, !known {
            counters.error(reason)
            await events.record(profile, type: .warning, reason: reason.rawValue, message: message)
        }
        try await nodeStatus.write(.error, message: message, for: profile)
    }

    /// Forgets what was reported about `profile`, once it is released from this node.
    func forget(_ profile: Profile) {
        _ = reported.withLock { $0.removeValue(forKey: profile.metadata.uid ?? "") }
    }

    /// `state` on this node; when the node changed (`event` given), the Normal event and the
    /// `update` counter.
    func succeeded(_ profile: Profile, _ state: ProfileState, event: (reason: String, message: String)? = nil) async throws {
        forget(profile)
        if let event {
            counters.profileChanged(.update)
            await events.record(profile, type: .normal, reason: event.reason, message: event.message)
        }
        try await nodeStatus.write(state, for: profile)
    }
}
