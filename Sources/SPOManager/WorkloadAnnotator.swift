import KubeClient
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import SPOManagerKit

/// Tracks which pods use a profile (reference §2.6): writes them to `status.activeWorkloads`
/// and holds the `in-use-by-active-pods` finalizer while the list is not empty, so a profile
/// in use cannot disappear from the nodes. Keys are profile keys.
public struct WorkloadAnnotator<Profile: WorkloadTrackedProfile>: Reconciler {
    let profiles: Store<Profile>
    let client: KubernetesClient
    /// The pods that use a profile (from a ``WorkloadIndex``).
    let workloads: @Sendable (Profile) -> Set<ObjectKey>

    public init(profiles: Store<Profile>, client: KubernetesClient, workloads: @escaping @Sendable (Profile) -> Set<ObjectKey>) {
        self.profiles = profiles
        self.client = client
        self.workloads = workloads
    }

    public func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult {
        guard let profile = profiles.get(key) else { return .done }
        let workloads = self.workloads(profile).map { "\($0.namespace ?? "")/\($0.name)" }.sorted()
        let resource = client.resource(Profile.self)
        let listed: [String]? = workloads.isEmpty ? nil : workloads
        do {
            if (profile.activeWorkloads ?? []) != workloads {
                _ = try await resource.updateStatus(cached: profile) { $0.activeWorkloads = listed }
                logger.info("profile.workloads.changed", metadata: ["count": "\(workloads.count)"])
            }
            let holds = profile.metadata.finalizers?.contains(SPOMetadata.inUseFinalizer) == true
            // The API refuses new finalizers on an object being deleted.
            let mayAdd = profile.metadata.deletionTimestamp == nil
            if holds == workloads.isEmpty, holds || mayAdd {
                _ = try await resource.update(key.name, namespace: key.namespace) { object in
                    var finalizers = object.metadata.finalizers ?? []
                    finalizers.removeAll { $0 == SPOMetadata.inUseFinalizer }
                    if !workloads.isEmpty { finalizers.append(SPOMetadata.inUseFinalizer) }
                    object.metadata.finalizers = finalizers.isEmpty ? nil : finalizers
                }
            }
        } catch let error as KubeAPIError where error.isNotFound {
            return .done
        }
        return .done
    }
}
