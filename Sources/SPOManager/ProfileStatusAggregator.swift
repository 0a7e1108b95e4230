import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import SPOManagerKit

/// Computes one profile kind's `status.status` and `Ready` condition from all nodes' node
/// statuses (reference §2.7, made robust): node statuses of nodes that left the cluster are
/// deleted and their node finalizers removed from the profile; the profile shows `Installed`
/// only when as many nodes reported as the spod DaemonSet is scheduled on, and an `Error`
/// (with the node's message) at once. Keys are profile keys.
public struct ProfileStatusAggregator<Profile: NodeInstalledProfile>: Reconciler {
    let profiles: Store<Profile>
    let nodeStatuses: Store<SecurityProfileNodeStatus>
    let index: NodeStatusIndex
    let nodes: Store<Node>
    let daemonSets: Store<DaemonSet>
    let configuration: ManagerConfiguration
    let client: KubernetesClient
    let clock: @Sendable () -> Date

    public init(
        profiles: Store<Profile>, nodeStatuses: Store<SecurityProfileNodeStatus>, index: NodeStatusIndex, nodes: Store<Node>, daemonSets: Store<DaemonSet>,
        configuration: ManagerConfiguration, client: KubernetesClient, clock: @escaping @Sendable () -> Date = Date.init
    ) {
        self.profiles = profiles
        self.nodeStatuses = nodeStatuses
        self.index = index
        self.nodes = nodes
        self.daemonSets = daemonSets
        self.configuration = configuration
        self.client = client
        self.clock = clock
    }

    /// The profile a node status belongs to, from its controller owner reference.
    public static func owner(of status: SecurityProfileNodeStatus) -> ObjectKey? {
        guard let owner = status.metadata.ownerReferences?.first(where: { $0.controller == true && $0.kind == Profile.kind }) else { return nil }
        return ObjectKey(namespace: status.metadata.namespace, name: owner.name)
    }

    public func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult {
        guard let profile = profiles.get(key) else { return .done }
        let id = ProfileIdentity.profileID(kind: Profile.kind, name: key.name)
        let statuses = index.keys(namespace: key.namespace, profileID: id).compactMap { nodeStatuses.get($0) }.filter { status in
            (status.metadata.labels?[SPOMetadata.profileKindLabel] ?? Profile.kind) == Profile.kind
        }
        let nodeNames = Set(nodes.list().compactMap(\.metadata.name))
        let (live, departed) = statuses.reduce(into: ([SecurityProfileNodeStatus](), [SecurityProfileNodeStatus]())) { split, status in
            if nodeNames.contains(status.nodeName ?? "") { split.0.append(status) } else { split.1.append(status) }
        }
        if !departed.isEmpty { try await forget(departed, of: profile, logger: logger) }

        let expected = daemonSets.get(name: configuration.spodName, namespace: configuration.operatorNamespace)?.status?.desiredNumberScheduled ?? 0
        let aggregate = ProfileAggregation.aggregate(live, expectedNodes: Int(expected))
        let now = KubeTime.format(clock())
        guard ProfileAggregation.applying(aggregate, to: profile, now: now) != profile else { return .done }
        do {
            _ = try await client.resource(Profile.self).updateStatus(cached: profile) { object in
                object = ProfileAggregation.applying(aggregate, to: object, now: now)
            }
        } catch let error as KubeAPIError where error.isNotFound {
            return .done
        }
        logger.debug("profile.status.aggregated", metadata: ["state": "\(aggregate.state)", "nodes": "\(live.count)/\(expected)"])
        return .done
    }

    /// Deletes the node statuses of nodes that are gone and drops their finalizers, so the
    /// profile can be deleted without waiting for a node that will never come back.
    private func forget(_ departed: [SecurityProfileNodeStatus], of profile: Profile, logger: Logger) async throws {
        let statuses = client.resource(SecurityProfileNodeStatus.self)
        for status in departed {
            do {
                try await statuses.delete(status.metadata.name ?? "", namespace: status.metadata.namespace)
            } catch let error as KubeAPIError where error.isNotFound {
                // Gone already.
            }
            logger.info("profile.node_status.removed", metadata: ["node": "\(status.nodeName ?? "")"])
        }
        let finalizers = Set(departed.map { ProfileIdentity.nodeFinalizer(nodeName: $0.nodeName ?? "") })
        guard profile.metadata.finalizers?.contains(where: finalizers.contains) == true else { return }
        do {
            _ = try await client.resource(Profile.self).update(profile.metadata.name ?? "", namespace: profile.metadata.namespace) { object in
                object.metadata.finalizers?.removeAll(where: finalizers.contains)
            }
        } catch let error as KubeAPIError where error.isNotFound {
            // Deleted meanwhile.
        }
    }
}
