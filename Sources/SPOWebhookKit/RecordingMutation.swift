import KubeModels
import SPOAPI

/// The recording webhook's mutation of one pod being created (reference §5.2): for every
/// ProfileRecording of the namespace whose `podSelector` matches, each selected container gets
/// its recording annotation and, for the logs recorder, the security context that makes the
/// kernel report what it does. Pure: the clock and the nonces come in.
///
/// Differences from upstream: only CREATE is mutated (the security context of a running pod
/// cannot change, so upstream's UPDATE mutation could only make the API refuse the update);
/// a SelinuxProfile recording with the bpf recorder, which cannot record, is reported instead
/// of getting an annotation nothing reads.
public enum RecordingMutation {
    /// A Warning event for a ProfileRecording.
    public struct Warning: Hashable, Sendable {
        public var recording: String
        public var reason: String
        public var message: String
    }

    public struct Outcome: Hashable, Sendable {
        /// The pod, changed or not.
        public var pod: JSONValue
        /// The recordings that annotated it.
        public var recordings: [String]
        public var warnings: [Warning]
    }

    /// - Parameters:
    ///   - podName: the pod's name, or its `generateName` when the API server has not named it yet.
    ///   - operatorNamespace: where the `log-enricher-trace` profile lives.
    ///   - now: Unix seconds, in the annotation values.
    ///   - nonce: five random alphanumeric characters per annotation.
    public static func mutate(
        pod: JSONValue, podName: String, recordings: [ProfileRecording], operatorNamespace: String, now: Int64, nonce: () -> String
    ) -> Outcome {
        var mutated = pod
        var outcome = Outcome(pod: pod, recordings: [], warnings: [])
        let labels = pod[path: ["metadata", "labels"]]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
        var annotations = pod[path: ["metadata", "annotations"]]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
        let live = recordings
            .filter { $0.metadata.deletionTimestamp == nil }
            .sorted { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }
        for recording in live {
            let name = recording.metadata.name ?? ""
            guard let spec = recording.spec, spec.kind.map(ProfileKind.allowed.contains) == true,
                  let selector = spec.podSelector, selector.matches(labels)
            else { continue }
            guard KubeNames.isLabel(name) else {
                outcome.warnings.append(Warning(recording: name, reason: "NameNotDNSLabel", message: "Recording name \(name) is not a DNS-1123 label, the profile recorder cannot name profiles after it: pod \(podName) is not recorded"))
                continue
            }
            guard let method = RecordingAnnotation.Method(kind: spec.kind, recorder: spec.recorder) else {
                outcome.warnings.append(Warning(recording: name, reason: "RecorderNotSupported", message: "A \(spec.kind?.rawValue ?? "") cannot be recorded with the \(spec.recorder?.rawValue ?? "") recorder: pod \(podName) is not recorded"))
                continue
            }
            let selected = PodContainers.all(in: mutated).filter { spec.containers == nil || spec.containers!.contains($0.name) }
            var changed = false
            for container in selected where !container.name.isEmpty {
                let key = RecordingAnnotation.key(method, container: container.name)
                if annotations[key] == nil {
                    annotations[key] = RecordingAnnotation(method: method, container: container.name, recording: name, nonce: nonce(), timestamp: now).value
                    changed = true
                }
                guard spec.recorder == .logs else { continue }
                if PodContainers.securityContext(mutated, container.location, "privileged")?.boolValue == true {
                    outcome.warnings.append(Warning(recording: name, reason: "PrivilegedContainer", message: "Container \(container.name) in pod \(podName) is privileged, cannot use log-based profile recording"))
                }
                let field: String
                var value = PodContainers.securityContext(mutated, container.location, spec.kind == .seccompProfile ? "seccompProfile" : "seLinuxOptions") ?? .null
                let previous = value
                if spec.kind == .seccompProfile {
                    field = "seccompProfile"
                    value = ["type": "Localhost", "localhostProfile": .string(SeccompProfile.localhostProfile(namespace: operatorNamespace, name: SPOMetadata.traceProfileName))]
                } else {
                    field = "seLinuxOptions"
                    if value.objectValue == nil { value = [:] }
                    value["type"] = .string(SPOMetadata.selinuxRecordingType)
                }
                guard value != previous else { continue }
                if PodContainers.isSet(previous) {
                    outcome.warnings.append(Warning(recording: name, reason: "SecurityContextAlreadySet", message: "Container \(container.name) had SecurityContext already set, the profile recorder overwrote it"))
                }
                PodContainers.setSecurityContext(&mutated, container.location, field, value)
                changed = true
            }
            if changed || !selected.isEmpty { outcome.recordings.append(name) }
        }
        if !outcome.recordings.isEmpty, annotations != (pod[path: ["metadata", "annotations"]]?.objectValue?.compactMapValues(\.stringValue) ?? [:]) {
            mutated[path: ["metadata", "annotations"]] = .object(annotations.mapValues { .string($0) })
        }
        outcome.pod = mutated
        return outcome
    }
}
