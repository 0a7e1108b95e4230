import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import Logging
import RecordingKit
import SPOAPI
import SPOManager
import SPORecorder
import ServiceLifecycle
import Synchronization
import Testing

/// A recorder source that reports what the test says each container did.
final class ScriptedActivity: ActivitySource {
    let methods: Set<RecordingAnnotation.Method>
    private let recorded = Mutex<[String: RecordedActivity]>([:])
    private let tracked = Mutex<Set<String>>([])
    let lost = Atomic<Int>(0)
    let unattributed = Atomic<Int>(0)

    init(_ methods: Set<RecordingAnnotation.Method> = [.logs, .bpf, .avcs]) {
        self.methods = methods
    }

    /// What the container of recording key `key` did.
    func did(_ key: String, syscalls: Set<String> = [], vectors: Set<RecordedProfile.AccessVector> = []) {
        recorded.withLock { $0[key, default: RecordedActivity()] = $0[key, default: RecordedActivity()].union(RecordedActivity(syscalls: syscalls, vectors: vectors)) }
    }

    var trackedKeys: Set<String> { tracked.withLock { $0 } }

    func records(_ method: RecordingAnnotation.Method) -> Bool { methods.contains(method) }
    func track(_ container: TrackedContainer) async -> String? {
        _ = tracked.withLock { $0.insert(container.key) }
        return nil
    }
    func activity(of container: TrackedContainer) -> RecordedActivity { recorded.withLock { $0[container.key] ?? RecordedActivity() } }
    func forget(_ container: TrackedContainer) {
        _ = recorded.withLock { $0.removeValue(forKey: container.key) }
        _ = tracked.withLock { $0.remove(container.key) }
    }
    var lostRecords: Int { lost.load(ordering: .relaxed) }
    var unattributedRecords: Int { unattributed.load(ordering: .relaxed) }
}

/// A node's recorder against the test API server; the test plays the webhook (annotations),
/// the kubelet (pod statuses) and the users.
struct RecorderHarness {
    let server: KubeTestServer
    let client: KubernetesClient
    let daemon: RecordingDaemon
    let source: ScriptedActivity

    static let resources = TestResource.builtIn + CRDs.all.map { TestResource($0.resource, statusSubresource: $0.statusSubresource) }
    static let reflector = ReflectorStateMachine.Configuration(backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(200), jitter: 0))

    static func run(
        memoryOptimization: Bool = false, stateDirectory: URL? = nil, source: ScriptedActivity = ScriptedActivity(),
        extraSources: [any ActivitySource] = [], server existing: KubeTestServer? = nil, _ body: (RecorderHarness) async throws -> Void
    ) async throws {
        func go(_ server: KubeTestServer) async throws {
            try await KubernetesClient.withClient(configuration: server.clientConfiguration()) { client in
                let daemon = RecordingDaemon(
                    client: client, configuration: RecorderConfiguration(node: "node-1", architecture: "SCMP_ARCH_X86_64"),
                    memoryOptimization: memoryOptimization, logs: nil, bpf: nil, otherSources: [source] + extraSources, stateDirectory: stateDirectory,
                    reflector: reflector, saveInterval: .milliseconds(100))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for service in daemon.services { group.addTask { try? await service.run() } }
                    defer { group.cancelAll() }
                    try #require(await eventually { daemon.hasSynced })
                    try await body(RecorderHarness(server: server, client: client, daemon: daemon, source: source))
                }
            }
        }
        if let existing { try await go(existing) } else { try await KubeTestServer.withServer(resources: resources) { try await go($0) } }
    }

    @discardableResult
    func recording(_ name: String, kind: ProfileKind = .seccompProfile, merge: Bool = false, disable: Bool = false) async throws -> ProfileRecording {
        var spec = ProfileRecording.Spec(kind: kind, recorder: kind == .selinuxProfile ? .logs : .bpf, podSelector: LabelSelector(matchLabels: ["app": "alpine"]))
        if merge { spec.mergeStrategy = .containers }
        if disable { spec.disableProfileAfterRecording = true }
        return try await client.resource(ProfileRecording.self).create(ProfileRecording(metadata: ObjectMeta(name: name, namespace: "apps"), spec: spec))
    }

    /// A pod as the recording webhook and the kubelet leave it: annotated, its containers started.
    @discardableResult
    func pod(
        _ name: String, generateName: String? = nil, recording: String = "rec", nonce: String = "abcde", method: RecordingAnnotation.Method = .bpf,
        containers: [String] = ["nginx"], initContainers: [String] = [], labels: [String: String]? = nil, extra: [String: String] = [:]
    ) throws -> Pod {
        var annotations = extra
        for container in initContainers + containers {
            annotations[RecordingAnnotation.key(method, container: container)] = "\(recording)_\(container)_\(nonce)_1700000000"
        }
        var metadata = ObjectMeta(name: name, generateName: generateName, namespace: "apps", labels: labels, annotations: annotations)
        metadata.name = name
        var pod = Pod(metadata: metadata, spec: [
            "nodeName": "node-1",
            "initContainers": .array(initContainers.map { ["name": .string($0), "image": "busybox"] }),
            "containers": .array(containers.map { ["name": .string($0), "image": "nginx"] }),
        ])
        pod.status = [
            "phase": "Running",
            "initContainerStatuses": .array(initContainers.map { ["name": .string($0), "containerID": .string("containerd://\(Self.id($0, name))")] }),
            "containerStatuses": .array(containers.map { ["name": .string($0), "containerID": .string("containerd://\(Self.id($0, name))")] }),
        ]
        return try server.seedRunning(pod)
    }

    static func id(_ container: String, _ pod: String) -> String {
        String(Digest.sha256Hex("\(pod)/\(container)").prefix(64))
    }

    func deletePod(_ name: String) async throws {
        try await client.resource(Pod.self).delete(name, namespace: "apps")
    }

    func seccomp(_ name: String) -> SeccompProfile? { server.object(SeccompProfile.self, namespace: "apps", name: name) }
    func recordingObject(_ name: String) -> ProfileRecording? { server.object(ProfileRecording.self, namespace: "apps", name: name) }
    func events(reason: String) -> [Event] {
        server.objects(Event.resource).compactMap { try? $0.decode(as: Event.self) }.filter { $0.reason == reason }
    }
}

@Suite struct RecorderTests {
    /// Checklist 76-77: a multi-container pod with an init container gives one profile per
    /// container, collected when the pod is deleted, with the recording's labels.
    @Test func eachContainerOfADeletedPodBecomesAProfile() async throws {
        try await RecorderHarness.run { harness in
            try await harness.recording("rec")
            try harness.pod("recording", containers: ["nginx", "redis"], initContainers: ["init"])
            #expect(await eventually { harness.source.trackedKeys.count == 3 })
            #expect(await eventually { harness.recordingObject("rec")?.metadata.finalizers == ["node-1-recording"] })
            #expect(await eventually { !harness.events(reason: "ProfileRecording").isEmpty })
            harness.source.did("rec_init_abcde_1700000000", syscalls: ["write", "read"])
            harness.source.did("rec_nginx_abcde_1700000000", syscalls: ["close", "listen", "close"])
            harness.source.did("rec_redis_abcde_1700000000", syscalls: ["epoll_wait"])
            try await harness.deletePod("recording")
            #expect(await eventually { harness.seccomp("rec-redis") != nil && harness.seccomp("rec-nginx") != nil && harness.seccomp("rec-init") != nil })
            let nginx = try #require(harness.seccomp("rec-nginx"))
            #expect(nginx.spec == SeccompProfile.Spec(defaultAction: .errno, architectures: ["SCMP_ARCH_X86_64"], syscalls: [.init(names: ["close", "listen"], action: .allow)]))
            #expect(nginx.metadata.labels?["spo.x-k8s.io/recording-id"] == "rec" && nginx.metadata.labels?["spo.x-k8s.io/container-id"] == "nginx")
            #expect(nginx.metadata.labels?["spo.x-k8s.io/partial"] == nil)
            #expect(harness.seccomp("rec-init")?.spec?.syscalls?.first?.names == ["read", "write"])
            #expect(await eventually { harness.recordingObject("rec")?.status?.profiles == ["rec-init", "rec-nginx", "rec-redis"] })
            #expect(await eventually { harness.recordingObject("rec")?.metadata.finalizers == nil }, "this node records no pod of it any more")
            #expect(await eventually { harness.events(reason: "ProfileCreated").count == 3 })
            #expect(harness.source.trackedKeys.isEmpty, "the source forgot the collected containers")
        }
    }

    /// Checklist 79-80: a 2-replica Deployment scaled to 5 before its pods go gives one profile
    /// per replica, named by the pod's suffix, each with what that replica did.
    @Test func replicasGetTheirSuffix() async throws {
        try await RecorderHarness.run { harness in
            try await harness.recording("rec")
            let names = ["web-7d9f-x2k4p", "web-7d9f-9qz7d", "web-7d9f-m4n8b", "web-7d9f-t6v2c", "web-7d9f-h5j3w"]
            func start(_ index: Int) throws {
                try harness.pod(names[index], generateName: "web-7d9f-", nonce: "n\(index)")
                harness.source.did("rec_nginx_n\(index)_1700000000", syscalls: ["listen", index == 0 ? "mknod" : "accept4"])
            }
            for index in 0..<2 { try start(index) }
            #expect(await eventually { harness.daemon.recorder.trackedPods.count == 2 })
            for index in 2..<5 { try start(index) }
            #expect(await eventually { harness.daemon.recorder.trackedPods.count == 5 })
            for name in names { try await harness.deletePod(name) }
            let profiles = ["rec-nginx-x2k4p", "rec-nginx-9qz7d", "rec-nginx-m4n8b", "rec-nginx-t6v2c", "rec-nginx-h5j3w"]
            #expect(await eventually { profiles.allSatisfy { harness.seccomp($0) != nil } })
            #expect(harness.seccomp("rec-nginx-x2k4p")?.spec?.syscalls?.first?.names == ["listen", "mknod"])
            #expect(harness.seccomp("rec-nginx-h5j3w")?.spec?.syscalls?.first?.names == ["accept4", "listen"])
            #expect(harness.seccomp("rec-nginx") == nil, "replicas never share a profile")
            #expect(await eventually { harness.recordingObject("rec")?.status?.profiles == profiles.sorted() })
        }
    }

    /// Checklist 78 (the webhook annotates only the listed containers), 82 and the Succeeded phase.
    @Test func aSucceededPodIsCollectedAndDisabledRecordingsGiveDisabledProfiles() async throws {
        try await RecorderHarness.run { harness in
            try await harness.recording("rec", disable: true)
            try harness.pod("job", containers: ["nginx"])
            #expect(await eventually { harness.source.trackedKeys.count == 1 })
            harness.source.did("rec_nginx_abcde_1700000000", syscalls: ["exit_group"])
            _ = try harness.server.modifyStatus(Pod.self, namespace: "apps", name: "job") { $0.status?["phase"] = "Succeeded" }
            #expect(await eventually { harness.seccomp("rec-nginx")?.spec?.disabled == true })
            #expect(harness.server.object(Pod.self, namespace: "apps", name: "job") != nil, "collected without waiting for the deletion")
        }
    }

    @Test func unparseableAnnotationsAreReportedAndIgnored() async throws {
        try await RecorderHarness.run { harness in
            try await harness.recording("rec")
            try harness.pod("p", extra: ["io.containers.trace-bpf/other": "not-a-recording"])
            #expect(await eventually { harness.events(reason: "AnnotationParsing").first?.message?.contains("io.containers.trace-bpf/other") == true })
            #expect(await eventually { harness.source.trackedKeys == ["rec_nginx_abcde_1700000000"] })
        }
    }

    /// Beyond upstream: the kernel's dropped records and records no container could be found
    /// for are reported on the recording, and a
    /// recording that cannot compile is refused with the reason (nothing half-made is written).
    @Test func lostRecordsAndProfilesThatDoNotCompileAreReported() async throws {
        try await RecorderHarness.run { harness in
            try await harness.recording("rec")
            try harness.pod("p", containers: ["nginx", "bad", "silent"])
            #expect(await eventually { harness.source.trackedKeys.count == 3 })
            harness.source.did("rec_nginx_abcde_1700000000", syscalls: ["read"])
            harness.source.did("rec_bad_abcde_1700000000", syscalls: ["read", "not_a_syscall"])
            harness.source.lost.add(7, ordering: .relaxed)
            harness.source.unattributed.add(3, ordering: .relaxed)
            try await harness.deletePod("p")
            #expect(await eventually { harness.seccomp("rec-nginx") != nil })
            #expect(await eventually { harness.events(reason: "CannotCreateProfile").first?.message?.contains("does not compile") == true })
            #expect(harness.seccomp("rec-bad") == nil)
            #expect(await eventually {
                harness.events(reason: "CannotCreateProfile").contains { $0.message == "profile rec-silent: nothing was recorded for container silent of pod p on node node-1" }
            }, "a container nothing was recorded for is reported, not skipped silently")
            #expect(await eventually { harness.events(reason: "RecordsLost").first?.message?.contains("the kernel dropped 7 audit records") == true })
            #expect(await eventually { harness.events(reason: "RecordsUnattributed").first?.message?.hasPrefix("3 audit records on node node-1 came from processes that exited") == true })
        }
    }

    /// A recording that asks for a recorder the node does not run, and one whose eBPF program
    /// cannot load, get a Warning that says why; the recorder goes on recording the others.
    @Test func recordersThatAreOffOrCannotLoadAreReportedAndTheRestRecords() async throws {
        struct LoadFailure: Error, CustomStringConvertible {
            var description: String { "cannot load the BPF program: Operation not permitted" }
        }
        try await RecorderHarness.run(source: ScriptedActivity([.logs])) { harness in
            try await harness.recording("rec")
            try harness.pod("bpf-pod", method: .bpf)
            #expect(await eventually {
                harness.events(reason: "RecorderNotEnabled").first?.message?.contains("asks for the bpf recorder, which is not enabled on node node-1") == true
            })
            try harness.pod("logs-pod", nonce: "fffff", method: .logs)
            #expect(await eventually { harness.source.trackedKeys == ["rec_nginx_fffff_1700000000"] })
            harness.source.did("rec_nginx_fffff_1700000000", syscalls: ["read"])
            try await harness.deletePod("logs-pod")
            #expect(await eventually { harness.seccomp("rec-nginx") != nil }, "the other recording goes on")
        }
        let failing = BPFActivity(start: { _ in throw LoadFailure() })
        try await RecorderHarness.run(source: ScriptedActivity([.logs]), extraSources: [failing]) { harness in
            try await harness.recording("rec")
            try harness.pod("bpf-pod", method: .bpf)
            #expect(await eventually {
                harness.events(reason: "RecorderUnavailable").first?.message
                    == "cannot record container nginx of pod bpf-pod on node node-1: eBPF recorder: cannot load the BPF program: Operation not permitted"
            })
            #expect(!failing.isAttached)
            try harness.pod("logs-pod", nonce: "fffff", method: .logs)
            #expect(await eventually { harness.source.trackedKeys == ["rec_nginx_fffff_1700000000"] })
            try await Task.sleep(for: .milliseconds(300))
            #expect(harness.events(reason: "RecorderUnavailable").count == 1, "reported once")
        }
    }

    /// Beyond upstream: a snapshot without deleting the pod; a recording deleted while its pod
    /// runs is collected at once, and goes once this node is done with it.
    @Test func snapshotsAndRecordingsDeletedMidway() async throws {
        try await RecorderHarness.run { harness in
            try await harness.recording("rec")
            try harness.pod("p")
            #expect(await eventually { harness.source.trackedKeys.count == 1 })
            harness.source.did("rec_nginx_abcde_1700000000", syscalls: ["read"])
            _ = try await harness.client.resource(ProfileRecording.self).patch("rec", namespace: "apps", patch: .merge(["metadata": ["annotations": [NodeProfileRecorder.snapshotAnnotation: "1"]]]))
            #expect(await eventually { harness.seccomp("rec-nginx")?.spec?.syscalls?.first?.names == ["read"] })
            #expect(harness.source.trackedKeys.count == 1, "recording goes on")
            harness.source.did("rec_nginx_abcde_1700000000", syscalls: ["write"])
            try await harness.client.resource(ProfileRecording.self).delete("rec", namespace: "apps")
            #expect(await eventually { harness.seccomp("rec-nginx")?.spec?.syscalls?.first?.names == ["read", "write"] })
            #expect(await eventually { harness.recordingObject("rec") == nil }, "the node's finalizer was its last")
            #expect(harness.source.trackedKeys.isEmpty)
        }
    }

    /// Beyond upstream: a daemon restarted mid-way keeps what it recorded before.
    @Test func aRestartedDaemonLosesNothingRecordedBefore() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("recorder-state-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await KubeTestServer.withServer(resources: RecorderHarness.resources) { server in
            try await RecorderHarness.run(stateDirectory: directory, server: server) { harness in
                try await harness.recording("rec")
                try harness.pod("p")
                #expect(await eventually { harness.source.trackedKeys.count == 1 })
                harness.source.did("rec_nginx_abcde_1700000000", syscalls: ["listen", "accept4"])
                #expect(await eventually { FileManager.default.fileExists(atPath: directory.appendingPathComponent("recorder-state.json").path) })
                try await Task.sleep(for: .milliseconds(300))
            }
            // A new daemon: its source knows only what happened after the restart.
            let after = ScriptedActivity()
            try await RecorderHarness.run(stateDirectory: directory, source: after, server: server) { harness in
                #expect(await eventually { after.trackedKeys == ["rec_nginx_abcde_1700000000"] }, "resumed from the saved state")
                after.did("rec_nginx_abcde_1700000000", syscalls: ["close"])
                try await harness.deletePod("p")
                #expect(await eventually { harness.seccomp("rec-nginx")?.spec?.syscalls?.first?.names == ["accept4", "close", "listen"] })
            }
        }
    }

    /// Checklist 81, reference §5.7: with memory optimisation only labelled pods are seen.
    @Test func memoryOptimisationSeesOnlyLabelledPods() async throws {
        try await RecorderHarness.run(memoryOptimization: true) { harness in
            try await harness.recording("rec")
            try harness.pod("unlabelled")
            try harness.pod("labelled", labels: ["spo.x-k8s.io/enable-recording": "true"])
            #expect(await eventually { harness.daemon.recorder.trackedPods == ["apps/labelled"] })
            try await Task.sleep(for: .milliseconds(200))
            #expect(harness.daemon.pods.store.count == 1, "the unlabelled pod is not even cached")
        }
    }

    /// Checklist 83: an SELinux recording becomes a SelinuxProfile.
    @Test func selinuxRecordingsBecomeSelinuxProfiles() async throws {
        try await RecorderHarness.run { harness in
            try await harness.recording("sel", kind: ProfileKind.selinuxProfile)
            try harness.pod("p", recording: "sel", method: .avcs)
            #expect(await eventually { harness.source.trackedKeys.count == 1 })
            harness.source.did("sel_nginx_abcde_1700000000", vectors: Set(RecordedProfile.AccessVector.from(
                tcontext: "system_u:object_r:http_cache_port_t:s0", tclass: "tcp_socket", permissions: ["name_bind"])))
            try await harness.deletePod("p")
            #expect(await eventually { harness.server.object(SelinuxProfile.self, namespace: "apps", name: "sel-nginx")?.spec?.allow == ["http_cache_port_t": ["tcp_socket": ["name_bind"]]] })
        }
    }

    /// Checklist 90-94: partial profiles per replica, merged when the recording is deleted; a
    /// single pod's recording keeps its merged profile (upstream deleted it).
    @Test func mergingRecordingsMergeTheirPartialProfilesOnDeletion() async throws {
        try await KubeTestServer.withServer(resources: RecorderHarness.resources) { server in
            try server.seed(Node(metadata: ObjectMeta(name: "node-1")))
            try await RecorderHarness.run(server: server) { harness in
                let events = EventRecorder(client: harness.client, component: "test")
                let nodes = Informer(client: harness.client.resource(Node.self))
                let profiles = Informer(client: harness.client.resource(SeccompProfile.self), reflector: RecorderHarness.reflector)
                let selinux = Informer(client: harness.client.resource(SelinuxProfile.self), reflector: RecorderHarness.reflector)
                let merger = Controller(name: "merge", reconciler: RecordingMerger(
                    recordings: harness.daemon.recordings.store, seccompProfiles: profiles.store, selinuxProfiles: selinux.store, nodes: nodes.store,
                    client: harness.client, events: events))
                harness.daemon.recordings.addHandler(merger.enqueueHandler())
                let recordings = harness.daemon.recordings
                profiles.addHandler(InformerHandler(onAdd: { _ in for key in recordings.store.keys { merger.queue.add(key) } }, onUpdate: { _, _ in }, onDelete: { _ in }))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for service in [nodes, profiles, selinux] as [any Service] { group.addTask { try? await service.run() } }
                    group.addTask { try? await merger.run() }
                    defer { group.cancelAll() }
                    try await harness.recording("merging", merge: true)
                    try await harness.recording("single", merge: true)
                    try harness.pod("web-a1", generateName: "web-", recording: "merging", nonce: "aaaaa", containers: ["nginx", "redis"])
                    try harness.pod("web-b2", generateName: "web-", recording: "merging", nonce: "bbbbb", containers: ["nginx", "redis"])
                    try harness.pod("solo", recording: "single")
                    #expect(await eventually { harness.source.trackedKeys.count == 5 })
                    #expect(await eventually { harness.recordingObject("merging")?.metadata.finalizers?.contains(SPOMetadata.unmergedProfilesFinalizer) == true })
                    for nonce in ["aaaaa", "bbbbb"] {
                        harness.source.did("merging_nginx_\(nonce)_1700000000", syscalls: ["listen"])
                        harness.source.did("merging_redis_\(nonce)_1700000000", syscalls: ["epoll_wait"])
                    }
                    harness.source.did("single_nginx_abcde_1700000000", syscalls: ["read"])
                    try await harness.deletePod("web-a1")
                    #expect(await eventually { harness.seccomp("merging-nginx-a1")?.metadata.labels?[SPOMetadata.partialLabel] == "true" })
                    // The second replica also made a mknod call.
                    harness.source.did("merging_nginx_bbbbb_1700000000", syscalls: ["mknod"])
                    try await harness.deletePod("web-b2")
                    try await harness.deletePod("solo")
                    #expect(await eventually { harness.seccomp("merging-nginx-b2") != nil && harness.seccomp("single-nginx") != nil })
                    #expect(await eventually { profiles.store.count == 5 })
                    for name in ["merging", "single"] { try await harness.client.resource(ProfileRecording.self).delete(name, namespace: "apps") }
                    #expect(await eventually { harness.recordingObject("merging") == nil && harness.recordingObject("single") == nil })
                    #expect(await eventually { harness.seccomp("merging-nginx-a1") == nil && harness.seccomp("merging-redis-b2") == nil })
                    #expect(harness.seccomp("merging-nginx")?.spec?.syscalls?.first?.names == ["listen", "mknod"])
                    #expect(harness.seccomp("merging-nginx")?.metadata.labels == ["spo.x-k8s.io/recording-id": "merging", "spo.x-k8s.io/container-id": "nginx"])
                    #expect(harness.seccomp("merging-redis")?.spec?.syscalls?.first?.names == ["epoll_wait"])
                    #expect(harness.seccomp("single-nginx")?.spec?.syscalls?.first?.names == ["read"], "a single pod's merged profile stays")
                    #expect(harness.seccomp("single-nginx")?.metadata.labels?[SPOMetadata.partialLabel] == nil)
                }
            }
        }
    }
}
