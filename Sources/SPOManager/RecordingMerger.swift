import KubeClient
import KubeModels
import KubeRuntime
import Logging
import RecordingKit
import SPOAPI

/// Merges the partial profiles of a `mergeStrategy: containers` recording once it is deleted
/// (reference §5.6): per container, the partial profiles of every replica become one profile
/// `<recording>-<container>`, the partials are deleted, and the recording's
/// `spo.x-k8s.io/has-unmerged-profiles` finalizer goes. It waits until no node still records
/// pods of the recording (their `<node>-recording` finalizers; those of nodes that left the
/// cluster are removed). Keys are recording keys.
///
/// Fixed from upstream: a recording of a single pod, whose partial profile already has the
/// merged name, keeps that profile (upstream deleted what it had just merged), and the merged
/// profiles are deduplicated into one allow rule.
public struct RecordingMerger: Reconciler {
    let recordings: Store<ProfileRecording>
    let seccompProfiles: Store<SeccompProfile>
    let selinuxProfiles: Store<SelinuxProfile>
    let nodes: Store<Node>
    let client: KubernetesClient
    let events: EventRecorder

    public init(
        recordings: Store<ProfileRecording>, seccompProfiles: Store<SeccompProfile>, selinuxProfiles: Store<SelinuxProfile>, nodes: Store<Node>,
        client: KubernetesClient, events: EventRecorder
    ) {
        self.recordings = recordings
        self.seccompProfiles = seccompProfiles
        self.selinuxProfiles = selinuxProfiles
        self.nodes = nodes
        self.client = client
        self.events = events
    }

    public func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult {
        guard let recording = recordings.get(key), recording.metadata.deletionTimestamp != nil,
              let namespace = key.namespace,
              recording.metadata.finalizers?.contains(SPOMetadata.unmergedProfilesFinalizer) == true
        else { return .done }

        // Nodes still recording: wait for them; nodes that left the cluster will never finish.
        let recordingFinalizers = (recording.metadata.finalizers ?? []).filter { $0.hasSuffix("-recording") }
        let nodeNames = nodes.list().compactMap(\.metadata.name)
        let stale = recordingFinalizers.filter { finalizer in
            let prefix = String(finalizer.dropLast("-recording".count))
            return !nodeNames.contains { $0 == prefix || ($0.count > 53 && $0.hasPrefix(prefix)) }
        }
        if !stale.isEmpty {
            try await removeFinalizers(stale, from: key)
            return .done
        }
        guard recordingFinalizers.isEmpty else { return .done }

        let merged: [String]
        switch recording.spec?.kind {
        case .selinuxProfile?:
            merged = try await merge(selinuxProfiles.list(namespace: namespace), recording: key.name, namespace: namespace, logger: logger) { specs in
                RecordedProfile.merged(specs.compactMap(\.spec))
            } build: { metadata, spec in SelinuxProfile(metadata: metadata, spec: spec) }
        case .seccompProfile?:
            merged = try await merge(seccompProfiles.list(namespace: namespace), recording: key.name, namespace: namespace, logger: logger) { specs in
                RecordedProfile.merged(specs.compactMap(\.spec))
            } build: { metadata, spec in SeccompProfile(metadata: metadata, spec: spec) }
        default:
            await events.record(recording, type: .warning, reason: "KindNotSupportedForMerge", message: "cannot merge profiles of kind \(recording.spec?.kind?.rawValue ?? "")")
            merged = []
        }
        if merged.isEmpty, recording.spec?.kind.map(ProfileKind.allowed.contains) == true {
            await events.record(recording, type: .warning, reason: "NoPartialProfiles", message: "no partial profiles to merge")
        }
        try await removeFinalizers([SPOMetadata.unmergedProfilesFinalizer], from: key)
        logger.info("recording.merged", metadata: ["profiles": "\(merged.joined(separator: ","))"])
        return .done
    }

    /// Merges the partial profiles of the recording per container; returns the merged names.
    private func merge<P: KubeResource, Spec>(
        _ profiles: [P], recording: String, namespace: String, logger: Logger, merge: ([P]) -> Spec?, build: (ObjectMeta, Spec) -> P
    ) async throws -> [String] {
        let partials = profiles.filter {
            $0.metadata.labels?[SPOMetadata.recordingIDLabel] == recording && $0.metadata.labels?[SPOMetadata.partialLabel] != nil
                && $0.metadata.deletionTimestamp == nil
        }
        var byContainer: [String: [P]] = [:]
        for profile in partials {
            guard let container = profile.metadata.labels?[SPOMetadata.containerIDLabel] else { continue }
            byContainer[container, default: []].append(profile)
        }
        var mergedNames: [String] = []
        let resource = client.resource(P.self)
        for (container, group) in byContainer.sorted(by: { $0.key < $1.key }) {
            let sorted = group.sorted { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }
            guard let spec = merge(sorted) else { continue }
            let name = "\(recording)-\(container)"
            let labels = [SPOMetadata.recordingIDLabel: recording, SPOMetadata.containerIDLabel: container]
            var profile = build(ObjectMeta(name: name, namespace: namespace, labels: labels), spec)
            profile.setTypeMeta()
            do {
                _ = try await resource.create(profile)
            } catch let error as KubeAPIError where error.isAlreadyExists {
                // Also the single-pod case: the partial itself has the merged name; it stays,
                // without the partial label, with the merged spec.
                _ = try await resource.update(name, namespace: namespace) { live in
                    let replacement = build(live.metadata, spec)
                    live = replacement
                    var liveLabels = live.metadata.labels ?? [:]
                    liveLabels[SPOMetadata.partialLabel] = nil
                    live.metadata.labels = liveLabels.merging(labels) { $1 }
                    live.setTypeMeta()
                }
            }
            await events.record(profile, type: .normal, reason: "ProfileMerged", message: "merged \(group.count) partial profiles of recording \(recording)")
            mergedNames.append(name)
            for partial in group where partial.metadata.name != name {
                do {
                    try await resource.delete(partial.metadata.name ?? "", namespace: namespace)
                } catch let error as KubeAPIError where error.isNotFound {
                    continue
                }
            }
        }
        return mergedNames
    }

    private func removeFinalizers(_ names: [String], from key: ObjectKey) async throws {
        do {
            _ = try await client.resource(ProfileRecording.self).update(key.name, namespace: key.namespace) { object in
                let finalizers = (object.metadata.finalizers ?? []).filter { !names.contains($0) }
                object.metadata.finalizers = finalizers.isEmpty ? nil : finalizers
            }
        } catch let error as KubeAPIError where error.isNotFound {
            return
        }
    }
}
