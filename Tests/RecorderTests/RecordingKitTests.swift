import KubeModels
import RecordingKit
import SPOAPI
import SeccompKit
import Testing

@Suite struct RecordingKitTests {
    func pod(name: String, generateName: String? = nil, annotations: [String: String], phase: String = "Running", deleting: Bool = false) -> Pod {
        var metadata = ObjectMeta(name: name, generateName: generateName, namespace: "apps", annotations: annotations)
        if deleting { metadata.deletionTimestamp = "2026-01-01T00:00:00Z" }
        var pod = Pod(metadata: metadata, spec: ["initContainers": [["name": "init"]], "containers": [["name": "nginx"]]])
        pod.status = [
            "phase": .string(phase),
            "initContainerStatuses": [["name": "init", "containerID": .string("containerd://" + String(repeating: "a", count: 64))]],
            "containerStatuses": [["name": "nginx", "containerID": ""]],
        ]
        return pod
    }

    @Test func aPodNamesItsRecordedContainersAndTheirIDs() throws {
        let recorded = try #require(RecordedPod(pod(name: "web", annotations: [
            "io.containers.trace-logs/init": "rec_init_abcde_1", "io.containers.trace-logs/nginx": "rec_nginx_abcde_1",
            "io.containers.trace-logs/broken": "nonsense", "unrelated": "x",
        ])))
        #expect(recorded.containers.map(\.name) == ["init", "nginx"])
        #expect(recorded.containers[0].containerID == String(repeating: "a", count: 64) && recorded.containers[0].isInit)
        #expect(recorded.containers[1].containerID == nil && !recorded.containers[1].isInit, "not started yet")
        #expect(recorded.unparseable == ["io.containers.trace-logs/broken": "nonsense"])
        #expect(recorded.profileName(for: recorded.containers[1]) == "rec-nginx")
        #expect(RecordedPod(pod(name: "plain", annotations: ["other": "1"])) == nil)
    }

    /// Checklist 79: replicas get the part of their name after generateName.
    @Test func replicasAreSuffixed() throws {
        let replica = try #require(RecordedPod(pod(name: "web-7d9f-x2k9p", generateName: "web-7d9f-", annotations: ["io.containers.trace-bpf/nginx": "rec_nginx_abcde_1"])))
        #expect(replica.profileName(for: replica.containers[0]) == "rec-nginx-x2k9p")
    }

    @Test func recordingEndsWhenThePodIsDeletedOrSucceeds() {
        #expect(RecordedPod.isFinished(pod(name: "p", annotations: [:], phase: "Succeeded")))
        #expect(RecordedPod.isFinished(pod(name: "p", annotations: [:], deleting: true)))
        #expect(!RecordedPod.isFinished(pod(name: "p", annotations: [:], phase: "Failed")))
        #expect(!RecordedPod.isFinished(pod(name: "p", annotations: [:])))
    }

    /// Checklist 76, 89: one sorted, unique allow rule for the node's architecture.
    @Test func aSeccompRecordingBecomesOneSortedAllowRule() {
        let spec = RecordedProfile.seccomp(syscalls: ["write", "listen", "read"], architecture: "SCMP_ARCH_X86_64", disabled: false)
        #expect(spec == SeccompProfile.Spec(defaultAction: .errno, architectures: ["SCMP_ARCH_X86_64"], syscalls: [.init(names: ["listen", "read", "write"], action: .allow)]))
        #expect(RecordedProfile.seccomp(syscalls: ["read"], architecture: "SCMP_ARCH_X86_64", disabled: true).disabled == true)
        let metadata = RecordedProfile.metadata(name: "rec-nginx", namespace: "apps", recording: "rec", container: "nginx", partial: true)
        #expect(metadata.labels == ["spo.x-k8s.io/recording-id": "rec", "spo.x-k8s.io/container-id": "nginx", "spo.x-k8s.io/partial": "true"])
    }

    /// A record of the runtime's init (exe `/` after it changed root; only `comm` names the
    /// runtime) brings the runtime's base along; any other record only its own call.
    @Test func theRuntimesInitBringsItsBaseAlong() {
        #expect(RecordedProfile.recordedSyscalls(name: "mkdir", executable: "/bin/busybox", command: "mkdir") == ["mkdir"])
        #expect(Set(RecordedProfile.recordedSyscalls(name: "capset", executable: "/", command: "runc:[2:INIT]")) == Set(BuiltInProfiles.runcSyscalls))
        #expect(Set(RecordedProfile.recordedSyscalls(name: "umask", executable: "/", command: "crun")) == Set(BuiltInProfiles.crunSyscalls))
        #expect(RecordedProfile.recordedSyscalls(name: "read", executable: "/", command: "sh") == ["read"], "a workload that runs from / is not a runtime")
        #expect(RecordedProfile.recordedSyscalls(name: "read", executable: "/usr/bin/runc", command: "runc:[2:INIT]") == ["read"], "runc before it changed root is the host's")
    }

    /// Checklist 83: target types and classes, the recording type as @self.
    @Test func anSelinuxRecordingAllowsWhatWasChecked() {
        var vectors = Set(RecordedProfile.AccessVector.from(tcontext: "system_u:object_r:http_cache_port_t:s0", tclass: "tcp_socket", permissions: ["name_bind", "name_bind"]))
        vectors.formUnion(RecordedProfile.AccessVector.from(tcontext: "system_u:system_r:selinuxrecording.process:s0:c1,c2", tclass: "process", permissions: ["signal", "fork"]))
        #expect(RecordedProfile.AccessVector.from(tcontext: "broken", tclass: "file", permissions: ["read"]).isEmpty)
        let spec = RecordedProfile.selinux(vectors: vectors, disabled: false)
        #expect(spec.inherit == [.init(kind: .system, name: "container")])
        #expect(spec.allow == ["http_cache_port_t": ["tcp_socket": ["name_bind"]], "@self": ["process": ["fork", "signal"]]])
    }

    /// Checklist 92, 95: merged profiles unite what the replicas recorded.
    @Test func partialProfilesMerge() throws {
        let a = RecordedProfile.seccomp(syscalls: ["listen", "read"], architecture: "SCMP_ARCH_X86_64", disabled: false)
        let b = RecordedProfile.seccomp(syscalls: ["mknod", "read"], architecture: "SCMP_ARCH_X86_64", disabled: false)
        let merged = try #require(RecordedProfile.merged([a, b]))
        #expect(merged.syscalls == [.init(names: ["listen", "mknod", "read"], action: .allow)])
        #expect(merged.defaultAction == .errno && merged.architectures == ["SCMP_ARCH_X86_64"])
        let x = SelinuxProfile.Spec(allow: ["http_port_t": ["tcp_socket": ["name_bind"]]])
        let y = SelinuxProfile.Spec(allow: ["http_port_t": ["tcp_socket": ["name_connect", "name_bind"]]])
        #expect(RecordedProfile.merged([x, y])?.allow == ["http_port_t": ["tcp_socket": ["name_bind", "name_connect"]]])
        #expect(RecordedProfile.merged([SeccompProfile.Spec]()) == nil)
    }
}
