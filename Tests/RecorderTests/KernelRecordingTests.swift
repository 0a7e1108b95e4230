import AuditSources
import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import SPOAPI
import SeccompKit
import SPORecorder
import ServiceLifecycle
import Testing

#if canImport(Glibc)
import Glibc
#endif

let canRecordContainers = getuid() == 0 && OCIRuntime.runc.isAvailable && access("/dev/kmsg", R_OK) == 0

/// Recording for real: busybox runs under runc with a cgroup path and a container id as
/// containerd names them, the test API server has a pod on this node whose status names that
/// container, and the recorder (logs: SCMP_ACT_LOG records from /dev/kmsg through the log
/// enricher; bpf: the eBPF engine) produces the profile. A host process makes a call the
/// container does not, at the same time: it must not be in the profile. The profile alone, as
/// the daemon installs it, is then applied by runc to the same workload, which runs; without
/// `mkdir` it fails.
@Suite(.serialized, .enabled(if: canRecordContainers, "needs root, runc, busybox-static and /dev/kmsg"))
struct KernelRecordingTests {
    static let workload = ["/bin/sh", "-c", "sleep 1; /bin/mkdir /tmp/made && sleep 1"]
    /// A container that is gone within milliseconds, long before its pod shows its id.
    static let shortLived = ["/bin/mkdir", "/tmp/made"]

    /// Records `workload` in a container of pod `apps/app`. A long-running workload's pod shows
    /// its container id from the start and is deleted afterwards; a short-lived one's pod is
    /// `Pending` without an id while the container runs, and shows the id and `Succeeded` only
    /// after it exited, as a kubelet reports a Job's pod.
    func record(_ method: RecordingAnnotation.Method, workload: [String] = Self.workload) async throws -> SeccompProfile.Spec {
        let shortLived = workload == Self.shortLived
        let id = (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined()
        let noise = FileManager.default.temporaryDirectory.appendingPathComponent("noise-\(UUID().uuidString).json")
        try #"{"defaultAction":"SCMP_ACT_LOG"}"#.write(to: noise, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: noise) }
        let binary = try builtProduct("security-profiles-operator")
        return try await KubeTestServer.withServer(resources: RecorderHarness.resources) { server in
            try await KubernetesClient.withClient(configuration: server.clientConfiguration()) { client in
                let bpf = method == .bpf ? BPFActivity() : nil
                let daemon = RecordingDaemon(
                    client: client, configuration: RecorderConfiguration(node: "node-1", architecture: "SCMP_ARCH_X86_64"),
                    memoryOptimization: false, logs: method == .logs ? .init(source: KmsgAuditSource(pollInterval: .milliseconds(20))) : nil,
                    bpf: bpf, stateDirectory: nil, reflector: RecorderHarness.reflector)
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    for service in daemon.services { group.addTask { try? await service.run() } }
                    defer { group.cancelAll() }
                    try #require(await eventually { daemon.hasSynced })
                    _ = try await client.resource(ProfileRecording.self).create(ProfileRecording(
                        metadata: ObjectMeta(name: "trace", namespace: "apps"),
                        spec: .init(kind: .seccompProfile, recorder: method == .bpf ? .bpf : .logs, podSelector: LabelSelector())))
                    try #require(await eventually { daemon.recordings.hasSynced && daemon.recordings.store.count == 1 })
                    var pod = Pod(
                        metadata: ObjectMeta(name: "app", namespace: "apps", annotations: [RecordingAnnotation.key(method, container: "app"): "trace_app_abcde_1700000000"]),
                        spec: ["nodeName": "node-1", "containers": [["name": "app", "image": "busybox"]]])
                    let started: JSONValue = ["name": "app", "containerID": .string("containerd://\(id)")]
                    pod.status = shortLived ? ["phase": "Pending"] : ["phase": "Running", "containerStatuses": [started]]
                    try server.seedRunning(pod)
                    try #require(await eventually { daemon.recorder.trackedPods == ["apps/app"] })
                    if let bpf { try #require(await eventually { bpf.isAttached }, "the BPF program loads") }
                    try await Task.sleep(for: .milliseconds(300))

                    let container = BusyboxContainer(runtime: .runc, args: workload, id: id, cgroupsPath: "/kubepods/besteffort/pod1234/\(id)")
                    async let host = ChildProcess.run(binary.path, ["seccomp-exec", "--profile", noise.path, "--", "/usr/bin/nice", "-n", "1", "/bin/true"])
                    // As a kubelet has it run: create, then start through the exec fifo.
                    let ran = try await container.createAndStart(seccomp: method == .logs ? ["defaultAction": "SCMP_ACT_LOG"] : nil, marker: "tmp/made")
                    #expect(ran.started, "\(ran.output)")
                    #expect(try await host.status == 0)
                    // The enricher reads the records as they come; give the last ones a moment.
                    try await Task.sleep(for: .milliseconds(500))
                    if shortLived {
                        _ = try server.modifyStatus(Pod.self, namespace: "apps", name: "app") {
                            $0.status = ["phase": "Succeeded", "containerStatuses": [started]]
                        }
                    } else {
                        try server.remove(Pod.resource, namespace: "apps", name: "app")
                    }
                    try #require(await eventually { server.object(SeccompProfile.self, namespace: "apps", name: "trace-app") != nil })
                    return try #require(server.object(SeccompProfile.self, namespace: "apps", name: "trace-app")?.spec)
                }
            }
        }
    }

    func check(_ spec: SeccompProfile.Spec, workload: [String] = Self.workload) async throws {
        let names = Set(spec.syscalls?.flatMap { $0.names ?? [] } ?? [])
        #expect(names.contains("mkdir"), "the short-lived /bin/mkdir child's call: \(names.sorted())")
        #expect(!names.contains("setpriority"), "the host process's call")
        #expect(spec.defaultAction == .errno && spec.architectures == ["SCMP_ARCH_X86_64"])

        // The recorded profile alone, as the daemon installs it, runs the workload it was
        // recorded from on a kubelet's path (create, start; no-new-privileges off, as Kubernetes
        // leaves it: runc loads the filter before its own last calls); without mkdir it fails.
        let allowed = try await BusyboxContainer(runtime: .runc, args: workload).createAndStart(seccomp: try installed(spec), marker: "tmp/made")
        #expect(allowed.started, "\(allowed.output)")
        var reduced = spec
        reduced.syscalls = spec.syscalls?.map { rule in
            var rule = rule
            rule.names = rule.names?.filter { $0 != "mkdir" && $0 != "mkdirat" }
            return rule
        }
        let denied = try await BusyboxContainer(runtime: .runc, args: workload).createAndStart(seccomp: try installed(reduced), marker: "tmp/made")
        #expect(!denied.started, "\(denied.output)")
    }

    /// The file the daemon writes for `spec`, as runc reads it from the pod's `localhostProfile`.
    func installed(_ spec: SeccompProfile.Spec) throws -> JSONValue {
        try JSONValue.decode(Data(ProfileFile.render(spec)))
    }

    @Test func theLogsRecorderRecordsARealContainerAndItsShortLivedChildren() async throws {
        let spec = try await withoutPrintkRateLimit { try await record(.logs) }
        try await check(spec)
    }

    @Test func theBPFRecorderRecordsARealContainer() async throws {
        let spec = try await record(.bpf)
        try await check(spec)
    }

    /// Every process of the container exited before its pod showed the container's id: the
    /// recorder finds its namespace by the cgroup the engine saw it in.
    @Test func theBPFRecorderRecordsAContainerThatIsGoneBeforeItsPodShowsIt() async throws {
        let spec = try await record(.bpf, workload: Self.shortLived)
        try await check(spec, workload: Self.shortLived)
    }
}
