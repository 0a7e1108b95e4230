import KubeClient
import KubeModels
import KubeRuntime
import SPOAPI

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

    /// Adds this node's finalizer and the profile-id label (and whatever `extra` changes) in
    /// one update of the cached object, when anything differs.
    public func claim(_ profile: Profile, extra: (@Sendable (inout Profile) -> Bool)? = nil) async throws {
        let id = ProfileIdentity.profileID(kind: Profile.kind, name: profile.metadata.name ?? "")
        let finalizer = self.finalizer
        let apply = { @Sendable (object: inout Profile) -> Bool in
            var changed = extra?(&object) ?? false
            if object.metadata.finalizers?.contains(finalizer) != true {
                object.metadata.finalizers = (object.metadata.finalizers ?? []) + [finalizer]
                changed = true
            }
            if object.metadata.labels?[SPOMetadata.profileIDLabel] == nil {
                object.metadata.labels = (object.metadata.labels ?? [:]).merging([SPOMetadata.profileIDLabel: id]) { $1 }
                changed = true
            }
            return changed
        }
        var copy = profile
        guard apply(&copy) else { return }
        _ = try await client.resource(Profile.self).update(cached: profile) { _ = apply(&$0) }
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
                _ = try await statuses.create(status)
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
        _ = try await client.resource(SecurityProfileNodeStatus.self).update(cached: status) { object in
            object.status = state
            object.metadata.labels = (object.metadata.labels ?? [:]).merging([SPOMetadata.profileStateLabel: state.rawValue]) { $1 }
            object.metadata.annotations?[SPOMetadata.statusMessageAnnotation] = nil
            if let message { object.metadata.annotations = (object.metadata.annotations ?? [:]).merging([SPOMetadata.statusMessageAnnotation: message]) { $1 } }
            if object.metadata.annotations?.isEmpty == true { object.metadata.annotations = nil }
        }
    }

    /// The deletion of a profile being deleted: this node's status goes `Terminating`; while
    /// pods still use the profile (`in-use-by-active-pods`) nothing else happens, and the
    /// finalizer's removal brings the profile back. Then `uninstall` removes it from the node,
    /// and only once that succeeded are this node's finalizer and status removed. Returns
    /// whether the profile was released (false: held by pods).
    @discardableResult
    public func delete(_ profile: Profile, uninstall: () async throws -> Void) async throws -> Bool {
        let namespace = profile.metadata.namespace
        let status = current(of: profile)
        if let status, status.status != .terminating {
            try await set(.terminating, message: nil, on: status)
        }
        if profile.metadata.finalizers?.contains(SPOMetadata.inUseFinalizer) == true { return false }

        try await uninstall()
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
        if status != nil {
            do {
                try await client.resource(SecurityProfileNodeStatus.self).delete(statusName(profile), namespace: namespace)
            } catch let error as KubeAPIError where error.isNotFound {
                // Garbage-collected with its owner already.
            }
        }
        return true
    }

    private func statusName(_ profile: Profile) -> String {
        ProfileIdentity.nodeStatusName(profileName: profile.metadata.name ?? "", nodeName: identity.nodeName)
    }
}
