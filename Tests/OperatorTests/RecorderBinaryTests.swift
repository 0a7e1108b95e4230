import Foundation
import KubeModels
import KubeTestServer
import SPOAPI
import Testing

/// The `bpf-recorder` role as the DaemonSet runs it, against the test API server: a logs
/// recording of a pod on its node, fed from an audit log and a host /proc the test writes, ends
/// in a SeccompProfile; every request it made is granted by the shipped daemon RBAC.
@Suite(.serialized) struct RecorderBinaryTests {
    @Test func theRecorderRoleRecordsALogsRecordingWithTheDaemonsRBAC() async throws {
        try await withDaemonCluster { server, kubeconfig, _, _ in
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("recorder-binary-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: root) }
            let containerID = String(repeating: "ab", count: 32)
            let pid = 4242
            let process = root.appendingPathComponent("proc/\(pid)")
            try FileManager.default.createDirectory(at: process, withIntermediateDirectories: true)
            try "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-\(containerID).scope\n"
                .write(to: process.appendingPathComponent("cgroup"), atomically: true, encoding: .utf8)
            try "\(pid) (app) S 1 \(pid) \(pid) 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
                .write(to: process.appendingPathComponent("stat"), atomically: true, encoding: .utf8)
            let auditLog = root.appendingPathComponent("audit.log")
            try Data().write(to: auditLog)

            try server.seed(ProfileRecording(
                metadata: ObjectMeta(name: "rec", namespace: "default"),
                spec: .init(kind: .seccompProfile, recorder: .logs, podSelector: LabelSelector())))
            var pod = Pod(
                metadata: ObjectMeta(name: "web", namespace: "default", annotations: [RecordingAnnotation.key(.logs, container: "app"): "rec_app_abcde_1700000000"]),
                spec: ["nodeName": "node-1", "containers": [["name": "app", "image": "nginx"]]])
            pod.status = ["phase": "Running", "containerStatuses": [["name": "app", "containerID": .string("containerd://\(containerID)")]]]
            try server.seedRunning(pod)

            let running = try OperatorProcess(
                ["bpf-recorder", "--kubeconfig", kubeconfig.path, "--with-bpf-recorder=false", "--source", "audit", "--audit-log", auditLog.path,
                 "--proc", root.appendingPathComponent("proc").path, "--recording-state-dir", root.appendingPathComponent("state").path,
                 "--health-probe-host", "127.0.0.1", "--health-probe-port", "0", "--metrics-host", "127.0.0.1", "--metrics-port", "0"],
                environment: ["NODE_NAME": "node-1", "OPERATOR_NAMESPACE": "security-profiles-operator", "ENABLE_LOG_ENRICHER": "true"])
            let enabled = try await running.waitForRecord("recorder.enabled")
            #expect(enabled["logs"] as? String == "true" && enabled["bpf"] as? String == "false")
            // The node's finalizer says the recorder tracks the pod.
            #expect(await eventually { server.object(ProfileRecording.self, namespace: "default", name: "rec")?.metadata.finalizers?.contains("node-1-recording") == true })

            // The container calls mkdir (83) and the kernel logs it; a snapshot writes what was
            // recorded so far (asked again until the appended record was read).
            let line = #"type=SECCOMP msg=audit(1795347539.283:104): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=4242 comm="app" exe="/usr/bin/app" sig=0 arch=c000003e syscall=83 compat=0 ip=0x7f3201f1df37 code=0x7ffc0000"# + "\n"
            let handle = try FileHandle(forWritingTo: auditLog)
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(line.utf8))
            try handle.close()
            var request = 0
            let recorded = await eventually {
                if server.object(SeccompProfile.self, namespace: "default", name: "rec-app")?.spec?.syscalls?.contains(where: { $0.names?.contains("mkdir") == true }) == true {
                    return true
                }
                request += 1
                let value = "\(request)"
                _ = try? server.modify(ProfileRecording.self, namespace: "default", name: "rec") { $0.metadata.annotations = ["spo.x-k8s.io/snapshot": value] }
                return false
            }
            #expect(recorded)

            // The pod goes: the recording is complete and the node lets it go.
            try server.remove(Pod.resource, namespace: "default", name: "web")
            #expect(await eventually { server.object(ProfileRecording.self, namespace: "default", name: "rec")?.metadata.finalizers?.contains("node-1-recording") != true })

            let used = Set(server.requests.map(Permission.init))
            let granted = try Permission.granted(in: "deploy/rbac/daemon.yaml")
            #expect(used.subtracting(granted).isEmpty, "not granted: \(used.subtracting(granted))")
            #expect(used.contains { $0.resource == "seccompprofiles" && $0.verb == "create" })
            #expect(try await running.stop() == 0)
        }
    }
}

/// With enableBpfRecorder the DaemonSet gives the daemon `--with-recording=true` and
/// `ENABLE_BPF_RECORDER=true`: the bpf-recorder container records, the daemon does not.
@Suite(.serialized) struct DaemonRecordingOwnerTests {
    @Test func theDaemonLeavesRecordingToTheBPFRecorderContainer() async throws {
        try await withDaemonCluster { _, kubeconfig, kubelet, _ in
            let running = try OperatorProcess(
                ["daemon", "--kubeconfig", kubeconfig.path, "--kubelet-dir", kubelet, "--with-recording=true",
                 "--health-probe-host", "127.0.0.1", "--health-probe-port", "0", "--metrics-host", "127.0.0.1", "--metrics-port", "0"],
                environment: ["NODE_NAME": "node-1", "OPERATOR_NAMESPACE": "security-profiles-operator", "ENABLE_BPF_RECORDER": "true", "ENABLE_LOG_ENRICHER": "true"])
            _ = try await running.waitForRecord("recorder.in_bpf_recorder_container")
            _ = try await running.waitForRecord("health.listening")
            #expect(!running.records.contains { $0["msg"] as? String == "recorder.enabled" })
            #expect(try await running.stop() == 0)
        }
    }
}
