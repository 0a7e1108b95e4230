import KubeClient
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import SPOWebhookKit

/// Keeps a ProfileBinding's `status.activeWorkloads` (`<namespace>/<pod>`) and its
/// `active-workload-lock` finalizer in step with the pods that exist and run with what the
/// binding sets (see ``BindingMutation/isBound(_:to:namespace:)``). Upstream wrote both from
/// inside the admission request, which a dry run, a retry or a rejected-later creation got wrong
/// and a deletion the webhook never saw left stale; here a pod watch decides. Keys are binding keys.
public struct BindingTracker: Reconciler {
    let bindings: Store<ProfileBinding>
    let pods: Store<Pod>
    let client: KubernetesClient

    public init(bindings: Store<ProfileBinding>, pods: Store<Pod>, client: KubernetesClient) {
        self.bindings = bindings
        self.pods = pods
        self.client = client
    }

    public func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult {
        guard let binding = bindings.get(key), let namespace = key.namespace else { return .done }
        let workloads = pods.list(namespace: namespace)
            // A pod counts while it exists, also while it terminates.
            .filter { pod in BindingMutation.isBound(["spec": pod.spec ?? .null], to: binding, namespace: namespace) }
            .map { "\(namespace)/\($0.metadata.name ?? "")" }
            .sorted()
        try await ActiveWorkloads.sync(
            binding, workloads: workloads, finalizer: SPOMetadata.activeWorkloadFinalizer, client: client.resource(ProfileBinding.self), logger: logger)
        return .done
    }
}

/// Keeps a ProfileRecording's `status.activeWorkloads` (pod names) and its
/// `active-seccomp-profile-recording-lock` finalizer in step with the pods that exist and carry
/// its recording annotations: the finalizer stays while any recorded pod exists (upstream
/// dropped it on the first pod deletion of the namespace). Keys are recording keys.
public struct RecordingTracker: Reconciler {
    let recordings: Store<ProfileRecording>
    let pods: Store<Pod>
    let client: KubernetesClient

    public init(recordings: Store<ProfileRecording>, pods: Store<Pod>, client: KubernetesClient) {
        self.recordings = recordings
        self.pods = pods
        self.client = client
    }

    /// The recordings a pod's annotations name.
    public static func recordings(of pod: Pod) -> Set<ObjectKey> {
        Set(RecordingAnnotation.all(in: pod.metadata.annotations).map { ObjectKey(namespace: pod.metadata.namespace, name: $0.recording) })
    }

    public func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult {
        guard let recording = recordings.get(key), let namespace = key.namespace else { return .done }
        // A deleted recording is collected by the nodes at once (they hold it with their own
        // finalizers while they do): its pods no longer hold it.
        let workloads = recording.metadata.deletionTimestamp != nil ? [] : pods.list(namespace: namespace)
            .filter { Self.recordings(of: $0).contains(key) }
            .map { $0.metadata.name ?? "" }
            .sorted()
        try await ActiveWorkloads.sync(
            recording, workloads: workloads, finalizer: SPOMetadata.recordingLockFinalizer, client: client.resource(ProfileRecording.self), logger: logger)
        return .done
    }
}

/// The objects whose status lists active workloads.
protocol ActiveWorkloadsTracked: KubeResource {
    var activeWorkloads: [String]? { get set }
}

extension ProfileBinding: ActiveWorkloadsTracked {
    var activeWorkloads: [String]? {
        get { status?.activeWorkloads }
        set { status = ActiveWorkloadsStatus(activeWorkloads: newValue) }
    }
}

extension ProfileRecording: ActiveWorkloadsTracked {
    /// Only the list: the profiles the daemons wrote into the status stay.
    var activeWorkloads: [String]? {
        get { status?.activeWorkloads }
        set {
            var status = self.status ?? RecordingStatus()
            status.activeWorkloads = newValue
            self.status = status
        }
    }
}

enum ActiveWorkloads {
    /// Writes the list when it changed, then adds the finalizer while it is not empty (not on
    /// an object being deleted, which the API refuses) or removes it when it is; conflicts are
    /// retried with a fresh copy.
    static func sync<Object: ActiveWorkloadsTracked>(
        _ object: Object, workloads: [String], finalizer: String, client: ResourceClient<Object>, logger: Logger
    ) async throws {
        let listed: [String]? = workloads.isEmpty ? nil : workloads
        do {
            if (object.activeWorkloads ?? []) != workloads {
                _ = try await client.updateStatus(cached: object) { $0.activeWorkloads = listed }
                logger.info("admission.workloads.changed", metadata: ["count": "\(workloads.count)"])
            }
            let holds = object.metadata.finalizers?.contains(finalizer) == true
            if holds == workloads.isEmpty, holds || object.metadata.deletionTimestamp == nil {
                _ = try await client.update(object.metadata.name ?? "", namespace: object.metadata.namespace) { live in
                    var finalizers = live.metadata.finalizers ?? []
                    finalizers.removeAll { $0 == finalizer }
                    if !workloads.isEmpty, live.metadata.deletionTimestamp == nil { finalizers.append(finalizer) }
                    live.metadata.finalizers = finalizers.isEmpty ? nil : finalizers
                }
            }
        } catch let error as KubeAPIError where error.isNotFound {
            return
        }
    }
}
