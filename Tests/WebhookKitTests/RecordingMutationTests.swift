import KubeModels
import SPOAPI
import SPOWebhookKit
import Testing

/// The recording mutation (reference §5.2, checklist 74, 78, 83, 85) without any I/O.
@Suite struct RecordingMutationTests {
    func recording(_ name: String, _ kind: ProfileKind = .seccompProfile, _ recorder: ProfileRecorder = .logs, containers: [String]? = nil, selector: [String: String] = ["app": "alpine"]) -> ProfileRecording {
        ProfileRecording(metadata: ObjectMeta(name: name, namespace: "apps"), spec: .init(kind: kind, recorder: recorder, podSelector: LabelSelector(matchLabels: selector), containers: containers))
    }

    func pod(labels: [String: String] = ["app": "alpine"], initContainers: [JSONValue] = [], containers: [JSONValue] = [["name": "nginx", "image": "nginx"]], annotations: [String: String]? = nil) -> JSONValue {
        var metadata: JSONValue = ["name": "recording", "namespace": "apps", "labels": .object(labels.mapValues { .string($0) })]
        if let annotations { metadata["annotations"] = .object(annotations.mapValues { .string($0) }) }
        var spec: JSONValue = ["containers": .array(containers)]
        if !initContainers.isEmpty { spec["initContainers"] = .array(initContainers) }
        return ["metadata": metadata, "spec": spec]
    }

    func mutate(_ pod: JSONValue, _ recordings: [ProfileRecording]) -> RecordingMutation.Outcome {
        RecordingMutation.mutate(pod: pod, podName: "recording", recordings: recordings, operatorNamespace: "security-profiles-operator", now: 1_700_000_000, nonce: { "abcde" })
    }

    /// Checklist 74.
    @Test func logsRecordingsAnnotateAndTraceEachContainer() {
        let outcome = mutate(pod(), [recording("test-recording")])
        #expect(outcome.recordings == ["test-recording"] && outcome.warnings.isEmpty)
        #expect(outcome.pod[path: ["metadata", "annotations", "io.containers.trace-logs/nginx"]] == "test-recording_nginx_abcde_1700000000")
        #expect(outcome.pod[path: ["spec"]]?["containers"]?.arrayValue?[0][path: ["securityContext", "seccompProfile"]]
            == ["type": "Localhost", "localhostProfile": "operator/security-profiles-operator/log-enricher-trace.json"])
        #expect(RecordingAnnotation(key: "io.containers.trace-logs/nginx", value: "test-recording_nginx_abcde_1700000000")
            == RecordingAnnotation(method: .logs, container: "nginx", recording: "test-recording", nonce: "abcde", timestamp: 1_700_000_000))
    }

    @Test func bpfRecordingsOnlyAnnotate() {
        let outcome = mutate(pod(), [recording("rec", .seccompProfile, .bpf)])
        #expect(outcome.pod[path: ["metadata", "annotations", "io.containers.trace-bpf/nginx"]] == "rec_nginx_abcde_1700000000")
        #expect(outcome.pod[path: ["spec"]]?["containers"]?.arrayValue?[0]["securityContext"] == nil)
    }

    /// Checklist 83: the SELinux recording type.
    @Test func selinuxRecordingsSetTheRecordingType() {
        let container: JSONValue = ["name": "nginx", "image": "nginx", "securityContext": ["seLinuxOptions": ["level": "s0:c1,c2"]]]
        let outcome = mutate(pod(containers: [container]), [recording("sel", .selinuxProfile, .logs)])
        #expect(outcome.pod[path: ["metadata", "annotations", "io.containers.trace-avcs/nginx"]] == "sel_nginx_abcde_1700000000")
        #expect(outcome.pod[path: ["spec"]]?["containers"]?.arrayValue?[0][path: ["securityContext", "seLinuxOptions"]] == ["level": "s0:c1,c2", "type": "selinuxrecording.process"])
        #expect(outcome.warnings.map(\.reason) == ["SecurityContextAlreadySet"])
    }

    /// Init containers first, then containers; `containers` filters (checklist 77-78).
    @Test func initContainersComeFirstAndTheListFilters() {
        let multi = pod(initContainers: [["name": "init", "image": "busybox"]], containers: [["name": "nginx", "image": "nginx"], ["name": "redis", "image": "redis"]])
        let all = mutate(multi, [recording("rec", .seccompProfile, .bpf)])
        let keys = all.pod[path: ["metadata", "annotations"]]?.objectValue?.keys.sorted()
        #expect(keys == ["io.containers.trace-bpf/init", "io.containers.trace-bpf/nginx", "io.containers.trace-bpf/redis"])
        let filtered = mutate(multi, [recording("rec", .seccompProfile, .bpf, containers: ["nginx"])])
        #expect(filtered.pod[path: ["metadata", "annotations"]]?.objectValue?.keys.sorted() == ["io.containers.trace-bpf/nginx"])
    }

    @Test func anExistingAnnotationIsKept() {
        let outcome = mutate(pod(annotations: ["io.containers.trace-logs/nginx": "older_nginx_zzzzz_1"]), [recording("test-recording")])
        #expect(outcome.pod[path: ["metadata", "annotations", "io.containers.trace-logs/nginx"]] == "older_nginx_zzzzz_1")
    }

    @Test func warningsForWhatCannotBeRecorded() {
        let privileged: JSONValue = ["name": "nginx", "image": "nginx", "securityContext": ["privileged": true, "seccompProfile": ["type": "RuntimeDefault"]]]
        let outcome = mutate(pod(containers: [privileged]), [recording("rec")])
        #expect(outcome.warnings.map(\.reason) == ["PrivilegedContainer", "SecurityContextAlreadySet"])
        #expect(outcome.warnings[0].message == "Container nginx in pod recording is privileged, cannot use log-based profile recording")
        #expect(outcome.warnings[1].message == "Container nginx had SecurityContext already set, the profile recorder overwrote it")
        let badName = mutate(pod(), [recording("Not_A_Label")])
        #expect(badName.warnings.map(\.reason) == ["NameNotDNSLabel"] && badName.recordings.isEmpty)
        #expect(badName.pod == pod())
        let selinuxBPF = mutate(pod(), [recording("sb", .selinuxProfile, .bpf)])
        #expect(selinuxBPF.warnings.map(\.reason) == ["RecorderNotSupported"] && selinuxBPF.pod == pod())
    }

    @Test func unselectedPodsAndDeletedRecordingsAreLeftAlone() {
        #expect(mutate(pod(labels: ["app": "other"]), [recording("rec")]).pod == pod(labels: ["app": "other"]))
        var deleting = recording("rec")
        deleting.metadata.deletionTimestamp = "2026-01-01T00:00:00Z"
        #expect(mutate(pod(), [deleting]).pod == pod())
        // An empty selector selects every pod of the namespace.
        let everything = ProfileRecording(metadata: ObjectMeta(name: "all", namespace: "apps"), spec: .init(kind: .seccompProfile, recorder: .bpf, podSelector: LabelSelector()))
        #expect(mutate(pod(labels: [:]), [everything]).recordings == ["all"])
    }

    @Test func annotationValuesThatDoNotParseAreNotRecordings() {
        for value in ["", "rec_nginx_abcde", "rec_other_abcde_1", "rec_nginx_abcde_notanumber", "_nginx_a_1", "a_nginx_b_1_2"] {
            #expect(RecordingAnnotation(key: "io.containers.trace-logs/nginx", value: value) == nil, "\(value)")
        }
        #expect(RecordingAnnotation(key: "nginx", value: "rec_nginx_a_1") == nil, "upstream's unprefixed SELinux/bpf key")
        #expect(RecordingAnnotation.all(in: ["io.containers.trace-bpf/a": "r_a_x_1", "other": "x"]).map(\.recording) == ["r"])
    }
}
