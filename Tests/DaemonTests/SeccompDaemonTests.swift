import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import Logging
import MetricsTestKit
import SPOAPI
import SPODaemon
import ServiceLifecycle
import Testing

/// The daemon's seccomp reconciler against the test API server and a temporary kubelet directory.
struct DaemonHarness {
    let client: KubernetesClient
    let server: KubeTestServer
    let kubelet: String
    let daemon: SeccompDaemon
    let node = "node-1"

    static let resources = TestResource.builtIn + CRDs.all.map { TestResource($0.resource, statusSubresource: $0.statusSubresource) }

    /// Runs `body` with a daemon running against a fresh server; `prepare` may seed objects and files first.
    static func run(
        builtIns: [String: SeccompProfile.Spec] = [:],
        metrics: TestMetrics? = nil,
        seccompSupported: Bool = true,
        fileSystem: any ProfileFileSystem = LocalFileSystem(),
        prepare: (KubeTestServer, String) throws -> Void = { _, _ in },
        _ body: (DaemonHarness) async throws -> Void
    ) async throws {
        let kubelet = FileManager.default.temporaryDirectory.appendingPathComponent("kubelet-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: kubelet) }
        try await KubeTestServer.withServer(resources: resources) { server in
            try prepare(server, kubelet)
            try await KubernetesClient.withClient(configuration: server.clientConfiguration()) { client in
                let daemon = SeccompDaemon(
                    client: client, identity: DaemonIdentity(nodeName: "node-1", operatorNamespace: "security-profiles-operator"),
                    kubeletDirectory: kubelet, builtInProfiles: builtIns, fileSystem: fileSystem, seccompSupported: seccompSupported,
                    reflector: .init(backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(200), jitter: 0)),
                    metricsFactory: metrics)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for service in daemon.services {
                        group.addTask { try? await service.run() }
                    }
                    defer { group.cancelAll() }
                    await daemon.profiles.waitForSync()
                    try await body(DaemonHarness(client: client, server: server, kubelet: kubelet, daemon: daemon))
                }
            }
        }
    }

    func file(_ namespace: String, _ name: String) -> String? {
        FileManager.default.contents(atPath: "\(kubelet)/seccomp/operator/\(namespace)/\(name).json").map { String(decoding: $0, as: UTF8.self) }
    }

    func nodeStatus(_ namespace: String, _ profile: String) -> SecurityProfileNodeStatus? {
        server.object(SecurityProfileNodeStatus.self, namespace: namespace, name: "\(profile)-\(node)")
    }

    func state(_ namespace: String, _ profile: String) -> ProfileState? { nodeStatus(namespace, profile)?.status }

    func profile(_ namespace: String, _ name: String) -> SeccompProfile? {
        server.object(SeccompProfile.self, namespace: namespace, name: name)
    }

    func events(reason: String) -> [Event] {
        server.objects(Event.resource).compactMap { try? $0.decode(as: Event.self) }.filter { $0.reason == reason }
    }

    @discardableResult
    func create(_ namespace: String, _ name: String, _ spec: SeccompProfile.Spec) async throws -> SeccompProfile {
        try await client.resource(SeccompProfile.self).create(SeccompProfile(metadata: ObjectMeta(name: name, namespace: namespace), spec: spec))
    }
}

@Suite struct SeccompDaemonTests {
    @Test func aProfileIsInstalledWithItsNodeStatusFinalizerLabelAndEvent() async throws {
        try await DaemonHarness.run { harness in
            try await harness.create("default", "log", .init(defaultAction: .log))
            #expect(await eventually { harness.state("default", "log") == .installed })
            #expect(harness.file("default", "log") == #"{"defaultAction":"SCMP_ACT_LOG"}"#)
            let profile = try #require(harness.profile("default", "log"))
            #expect(profile.metadata.finalizers == ["node-1-deleted"])
            #expect(profile.metadata.labels?["spo.x-k8s.io/profile-id"] == "SeccompProfile-log")
            #expect(profile.metadata.annotations?["syscalls"] == "null")
            let status = try #require(harness.nodeStatus("default", "log"))
            #expect(status.nodeName == "node-1")
            #expect(status.metadata.labels?["spo.x-k8s.io/profile-state"] == "Installed")
            #expect(status.metadata.labels?["spo.x-k8s.io/node-name"] == "node-1")
            #expect(status.metadata.ownerReferences?.first?.uid == profile.metadata.uid)
            #expect(await eventually { harness.events(reason: "SavedSeccompProfile").first?.message == "Successfully saved profile to disk on node-1" })
        }
    }

    @Test func updatesRewriteTheFileAndDeletionRemovesEverything() async throws {
        try await DaemonHarness.run { harness in
            try await harness.create("apps", "p", .init(defaultAction: .errno, syscalls: [.init(names: ["read"], action: .allow)]))
            #expect(await eventually { harness.state("apps", "p") == .installed })
            _ = try await harness.client.resource(SeccompProfile.self).patch("p", namespace: "apps", patch: .merge(["spec": ["defaultAction": "SCMP_ACT_LOG"]]))
            #expect(await eventually { harness.file("apps", "p")?.contains("SCMP_ACT_LOG") == true })
            try await harness.client.resource(SeccompProfile.self).delete("p", namespace: "apps")
            #expect(await eventually { harness.profile("apps", "p") == nil })
            #expect(harness.file("apps", "p") == nil)
            #expect(harness.nodeStatus("apps", "p") == nil)
        }
    }

    @Test func deletionWaitsForPodsToStopUsingTheProfile() async throws {
        try await DaemonHarness.run { harness in
            try await harness.create("apps", "used", .init(defaultAction: .log))
            #expect(await eventually { harness.state("apps", "used") == .installed })
            _ = try harness.server.modify(SeccompProfile.self, namespace: "apps", name: "used") {
                $0.metadata.finalizers?.append("in-use-by-active-pods")
            }
            try await harness.client.resource(SeccompProfile.self).delete("used", namespace: "apps")
            #expect(await eventually { harness.state("apps", "used") == .terminating })
            try await Task.sleep(for: .milliseconds(200))
            #expect(harness.file("apps", "used") != nil, "kept while pods use it")
            _ = try harness.server.modify(SeccompProfile.self, namespace: "apps", name: "used") {
                $0.metadata.finalizers?.removeAll { $0 == "in-use-by-active-pods" }
            }
            #expect(await eventually { harness.profile("apps", "used") == nil && harness.file("apps", "used") == nil })
        }
    }

    /// The file goes first: a node does not keep a deleted profile while the API refuses (or
    /// the client's rate limit delays) the writes that release it.
    @Test func aDeletedProfileLeavesTheNodeBeforeItsAPIWritesSucceed() async throws {
        try await DaemonHarness.run { harness in
            try await harness.create("apps", "p", .init(defaultAction: .log))
            #expect(await eventually { harness.state("apps", "p") == .installed })
            harness.server.faults.inject(.status(code: 500), method: "PUT", times: 10_000)
            harness.server.faults.inject(.status(code: 500), method: "DELETE", pathContains: "securityprofilenodestatuses", times: 10_000)
            try await harness.client.resource(SeccompProfile.self).delete("p", namespace: "apps")
            #expect(await eventually { harness.file("apps", "p") == nil })
            #expect(harness.profile("apps", "p")?.metadata.finalizers == ["node-1-deleted"], "this node's finalizer waits for the API")
            harness.server.faults.clear()
            #expect(await eventually { harness.profile("apps", "p") == nil && harness.nodeStatus("apps", "p") == nil })
        }
    }

    /// The node pass runs for what can change the node's outcome, not for the daemon's own
    /// metadata write or the manager's status: each would compile and compare the file again.
    @Test func onlyChangesThatConcernTheNodeRunTheNodePass() async throws {
        let metrics = TestMetrics()
        try await DaemonHarness.run(metrics: metrics) { harness in
            func passes() throws -> Int64 {
                try metrics.expectCounter("controller_runtime_reconcile_total", [("controller", "seccomp-spod"), ("result", "success")]).totalValue
            }
            try await harness.create("apps", "p", .init(defaultAction: .errno, syscalls: [.init(names: ["read"], action: .allow)]))
            #expect(await eventually {
                harness.state("apps", "p") == .installed && harness.profile("apps", "p")?.metadata.finalizers == ["node-1-deleted"]
                    && harness.events(reason: "SavedSeccompProfile").count == 1
            })
            try await Task.sleep(for: .milliseconds(300))
            #expect(try passes() == 1, "the finalizer, label and annotation the daemon added did not run it again")

            // The manager's aggregated status: nothing for the node.
            _ = try harness.server.modifyStatus(SeccompProfile.self, namespace: "apps", name: "p") { $0.status = .init(status: .installed) }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try passes() == 1)

            // Someone removed this node's finalizer: the node pass puts it back.
            _ = try harness.server.modify(SeccompProfile.self, namespace: "apps", name: "p") { $0.metadata.finalizers = nil }
            #expect(await eventually { harness.profile("apps", "p")?.metadata.finalizers == ["node-1-deleted"] })
            #expect(try passes() >= 2)

            // Someone changed the syscalls annotation: the node pass writes it back.
            let annotation = harness.profile("apps", "p")?.metadata.annotations?["syscalls"]
            #expect(annotation?.contains("read") == true)
            _ = try harness.server.modify(SeccompProfile.self, namespace: "apps", name: "p") { $0.metadata.annotations?["syscalls"] = "[]" }
            #expect(await eventually { harness.profile("apps", "p")?.metadata.annotations?["syscalls"] == annotation })

            // A new spec is installed.
            _ = try harness.server.modify(SeccompProfile.self, namespace: "apps", name: "p") { $0.spec?.defaultAction = .log }
            #expect(await eventually { harness.file("apps", "p")?.contains("SCMP_ACT_LOG") == true })
        }
    }

    /// The daemon caches a fingerprint of the `syscalls` annotation it writes, and claims
    /// profiles with merge patches, so the fingerprint never reaches the server; a conflicting
    /// patch is retried against a fresh copy.
    @Test func theCacheKeepsAFingerprintOfTheSyscallsAnnotationAndNeverWritesItBack() async throws {
        try await DaemonHarness.run { harness in
            try await harness.create("apps", "p", .init(defaultAction: .errno, syscalls: [.init(names: ["read"], action: .allow)]))
            #expect(await eventually { harness.profile("apps", "p")?.metadata.annotations?["syscalls"]?.contains("read") == true })
            let rules = try #require(harness.profile("apps", "p")?.metadata.annotations?["syscalls"])
            #expect(await eventually { harness.daemon.profiles.store.get(name: "p", namespace: "apps")?.metadata.annotations?["syscalls"] == AnnotationFingerprint.of(rules) })

            // Someone removes this node's finalizer; the claim that puts it back is refused once
            // as stale, then goes through on a fresh copy.
            harness.server.faults.inject(.status(code: 409), method: "PATCH", pathContains: "seccompprofiles")
            _ = try harness.server.modify(SeccompProfile.self, namespace: "apps", name: "p") { $0.metadata.finalizers = nil }
            #expect(await eventually { harness.profile("apps", "p")?.metadata.finalizers == ["node-1-deleted"] })
            #expect(harness.profile("apps", "p")?.metadata.annotations?["syscalls"] == rules, "the server keeps the rules, not the fingerprint")
            let writes = harness.server.requests.filter { $0.path.contains("/seccompprofiles/") && ["PUT", "PATCH"].contains($0.method) }
            #expect(writes.map { "\($0.method) \($0.status)" }.suffix(2) == ["PATCH 409", "PATCH 200"])
            #expect(!writes.contains { $0.method == "PUT" }, "no cached copy is sent back whole")
        }
    }

    @Test func aNodeWithoutSeccompReportsEveryProfileAndIsNeverReady() async throws {
        let metrics = TestMetrics()
        try await DaemonHarness.run(metrics: metrics, seccompSupported: false) { harness in
            try await harness.create("apps", "p", .init(defaultAction: .log))
            #expect(await eventually { harness.state("apps", "p") == .error })
            #expect(harness.file("apps", "p") == nil, "nothing is written for a kernel that would not enforce it")
            #expect(harness.nodeStatus("apps", "p")?.metadata.annotations?["spo.x-k8s.io/status-message"] == "node-1: node does not support seccomp")
            #expect(await eventually { harness.events(reason: "SeccompNotSupportedOnNode").first?.type == "Warning" })
            let errors = try metrics.expectCounter("security_profiles_operator_seccomp_profile_error_total", [("reason", "SeccompNotSupportedOnNode")])
            #expect(errors.totalValue >= 1)
            #expect(harness.daemon.hasSynced && !harness.daemon.isReady, "not ready, so the rollout shows it; no restart loop")
        }
    }

    /// A file that cannot be removed keeps the profile (and this node's finalizer on it) and is
    /// reported, until the retry succeeds.
    @Test func aFailedRemovalIsReportedAndRetriedUntilTheFileIsGone() async throws {
        let fileSystem = FailingFileSystem()
        let metrics = TestMetrics()
        try await DaemonHarness.run(metrics: metrics, fileSystem: fileSystem) { harness in
            try await harness.create("apps", "p", .init(defaultAction: .log))
            #expect(await eventually { harness.state("apps", "p") == .installed && harness.profile("apps", "p")?.metadata.finalizers == ["node-1-deleted"] })
            fileSystem.failure.withLock { $0 = (pathContaining: "/apps/p.json", code: EROFS) }
            try await harness.client.resource(SeccompProfile.self).delete("p", namespace: "apps")
            let reason = String(cString: strerror(EROFS))
            #expect(await eventually { harness.events(reason: "CannotRemoveSeccompProfile").first?.message?.contains(reason) == true })
            #expect(await eventually { harness.state("apps", "p") == .terminating })
            #expect(harness.file("apps", "p") != nil && harness.profile("apps", "p") != nil, "kept, with this node's finalizer")
            #expect(try metrics.expectCounter("security_profiles_operator_seccomp_profile_error_total", [("reason", "CannotRemoveSeccompProfile")]).totalValue >= 1)

            fileSystem.failure.withLock { $0 = nil }
            #expect(await eventually { harness.profile("apps", "p") == nil && harness.file("apps", "p") == nil && harness.nodeStatus("apps", "p") == nil })
        }
    }

    @Test(arguments: [EROFS, ENOSPC])
    func anUnwritableKubeletDirectoryIsAnErrorUntilItRecovers(code: Int32) async throws {
        // Root ignores permissions here, so the failure is injected below the directory layer.
        let fileSystem = FailingFileSystem()
        fileSystem.failure.withLock { $0 = (pathContaining: "/apps/", code: code) }
        try await DaemonHarness.run(fileSystem: fileSystem) { harness in
            try await harness.create("apps", "p", .init(defaultAction: .log))
            try await harness.create("other", "fine", .init(defaultAction: .log))
            #expect(await eventually { harness.state("apps", "p") == .error && harness.state("other", "fine") == .installed },
                    "the daemon keeps serving other profiles")
            #expect(harness.file("apps", "p") == nil)
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "\(harness.kubelet)/seccomp/operator/apps")) ?? []
            #expect(entries.isEmpty, "no partial or temporary file: \(entries)")
            let reason = String(cString: strerror(code))
            #expect(harness.nodeStatus("apps", "p")?.metadata.annotations?["spo.x-k8s.io/status-message"]?.contains(reason) == true)
            #expect(await eventually { harness.events(reason: "CannotSaveSeccompProfile").first?.message?.contains(reason) == true })

            // The disk recovers: the retry with backoff installs it.
            fileSystem.failure.withLock { $0 = nil }
            #expect(await eventually { harness.state("apps", "p") == .installed && harness.file("apps", "p") != nil })
        }
    }

    @Test func tenThousandSyscallProfilesAreHandled() async throws {
        try await DaemonHarness.run { harness in
            // 10,000 rules over real names: compiled and installed.
            let known = ["read", "write", "openat", "close", "mmap", "futex", "brk", "exit_group"]
            let rules = (0..<10_000).map { SeccompProfile.Syscall(names: [known[$0 % known.count]], action: $0 % 2 == 0 ? .allow : .log) }
            try await harness.create("apps", "big", .init(defaultAction: .errno, syscalls: rules))
            // 10,000 unknown names: an Error whose message stays short enough for an annotation.
            try await harness.create("apps", "bogus", .init(defaultAction: .errno, syscalls: [.init(names: (0..<10_000).map { "nosuch\($0)" }, action: .allow)]))
            #expect(await eventually { harness.state("apps", "big") == .installed && harness.state("apps", "bogus") == .error })
            #expect(harness.file("apps", "big") != nil && harness.file("apps", "bogus") == nil)
            let message = try #require(harness.nodeStatus("apps", "bogus")?.metadata.annotations?["spo.x-k8s.io/status-message"])
            #expect(message.hasPrefix(#"spec.syscalls[0].names[0]: Unsupported value: "nosuch0": unknown syscall"#))
            #expect(message.hasSuffix("; and 9990 more problems"))
            #expect(message.utf8.count < 2_000)
        }
    }

    @Test func disablingRemovesTheFile() async throws {
        try await DaemonHarness.run { harness in
            try await harness.create("apps", "p", .init(defaultAction: .log))
            #expect(await eventually { harness.file("apps", "p") != nil })
            _ = try await harness.client.resource(SeccompProfile.self).patch("p", namespace: "apps", patch: .merge(["spec": ["disabled": true]]))
            #expect(await eventually { harness.state("apps", "p") == .disabled })
            #expect(harness.file("apps", "p") == nil)
        }
    }

    @Test func aMissingBaseIsAnErrorUntilTheBaseAppears() async throws {
        try await DaemonHarness.run { harness in
            try await harness.create("apps", "child", .init(defaultAction: .errno, baseProfileName: "base", syscalls: [.init(names: ["write"], action: .allow)]))
            #expect(await eventually { harness.state("apps", "child") == .error })
            #expect(harness.file("apps", "child") == nil)
            #expect(await eventually { harness.events(reason: "InvalidSeccompProfile").first?.message?.contains("\"base\"") == true })
            try await harness.create("apps", "base", .init(defaultAction: .errno, syscalls: [.init(names: ["read"], action: .allow)]))
            #expect(await eventually { harness.state("apps", "child") == .installed })
            #expect(harness.file("apps", "child") == #"{"baseProfileName":"base","defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},{"names":["write"],"action":"SCMP_ACT_ALLOW"}]}"#)
        }
    }

    @Test func builtInBasesWorkAndASameNamedProfileOverridesThem() async throws {
        let runtime = SeccompProfile.Spec(defaultAction: .errno, syscalls: [.init(names: ["execve", "read"], action: .allow)])
        try await DaemonHarness.run(builtIns: ["runc-v1.0.0": runtime]) { harness in
            try await harness.create("my-namespace", "example-name", .init(defaultAction: .errno, baseProfileName: "runc-v1.0.0", syscalls: [.init(names: ["exit_group"], action: .allow)]))
            #expect(await eventually { harness.file("my-namespace", "example-name")?.contains("execve") == true })
            try await harness.create("my-namespace", "runc-v1.0.0", .init(defaultAction: .errno, syscalls: [.init(names: ["futex"], action: .allow)]))
            #expect(await eventually {
                let file = harness.file("my-namespace", "example-name") ?? ""
                return file.contains("futex") && !file.contains("execve")
            })
        }
    }

    @Test func theSpodAllowListBlocksAndLaterAllowsAProfile() async throws {
        try await DaemonHarness.run { harness in
            var spod = SecurityProfilesOperatorDaemon.defaultObject(namespace: "security-profiles-operator", staticWebhookConfig: false)
            spod.spec?.allowedSyscalls = ["exit", "exit_group", "futex", "nanosleep"]
            _ = try await harness.client.resource(SecurityProfilesOperatorDaemon.self).create(spod)
            #expect(await eventually { harness.daemon.spods.store.count == 1 })
            try await harness.create("apps", "wide", .init(defaultAction: .errno, syscalls: [.init(names: ["futex", "mkdir", "read"], action: .allow)]))
            #expect(await eventually { harness.state("apps", "wide") == .error })
            #expect(harness.file("apps", "wide") == nil)
            #expect(harness.profile("apps", "wide") != nil, "the user's object is never deleted")
            #expect(await eventually { harness.events(reason: "ProfileNotAllowed").first?.message == "syscall not allowed: mkdir, read" })
            #expect(harness.nodeStatus("apps", "wide")?.metadata.annotations?["spo.x-k8s.io/status-message"] == "syscall not allowed: mkdir, read",
                    "the manager puts the node's reason into the profile's Ready condition")
            _ = try await harness.client.resource(SecurityProfilesOperatorDaemon.self).patch(
                "spod", namespace: "security-profiles-operator", patch: .merge(["spec": ["allowedSyscalls": .null]]))
            #expect(await eventually { harness.state("apps", "wide") == .installed && harness.file("apps", "wide") != nil })
            #expect(harness.nodeStatus("apps", "wide")?.metadata.annotations?["spo.x-k8s.io/status-message"] == nil)
        }
    }

    @Test func invalidProfilesAreErrorsAndOthersKeepWorking() async throws {
        try await DaemonHarness.run { harness in
            try await harness.create("apps", "typo", .init(defaultAction: .errno, syscalls: [.init(names: ["mkdirr"], action: .allow)]))
            try await harness.create("apps", "fine", .init(defaultAction: .log))
            #expect(await eventually { harness.state("apps", "typo") == .error && harness.state("apps", "fine") == .installed })
            #expect(harness.file("apps", "typo") == nil)
            #expect(await eventually { harness.events(reason: "InvalidSeccompProfile").first?.message?.contains("mkdirr") == true })
        }
    }

    @Test func seccompCountersUseTheUpstreamNames() async throws {
        let metrics = TestMetrics()
        try await DaemonHarness.run(metrics: metrics) { harness in
            try await harness.create("apps", "p", .init(defaultAction: .log))
            try await harness.create("apps", "bad", .init(defaultAction: .errno, syscalls: [.init(names: ["nope"], action: .allow)]))
            #expect(await eventually { harness.state("apps", "p") == .installed && harness.state("apps", "bad") == .error })
            try await harness.client.resource(SeccompProfile.self).delete("p", namespace: "apps")
            #expect(await eventually { harness.file("apps", "p") == nil })
        }
        func total(_ label: String, _ dimensions: [(String, String)]) -> Int64 {
            (try? metrics.expectCounter(label, dimensions).totalValue) ?? 0
        }
        #expect(total("security_profiles_operator_seccomp_profile_total", [("operation", "update")]) == 1)
        #expect(total("security_profiles_operator_seccomp_profile_total", [("operation", "delete")]) == 1)
        #expect(total("security_profiles_operator_seccomp_profile_error_total", [("reason", "InvalidSeccompProfile")]) >= 1)
    }

    @Test func aFailedNodeStatusWriteIsCountedAndRetried() async throws {
        let metrics = TestMetrics()
        try await DaemonHarness.run(metrics: metrics) { harness in
            // A create is not retried by the client (it is not idempotent): each failure fails the status pass.
            harness.server.faults.inject(.status(code: 500), method: "POST", pathContains: "securityprofilenodestatuses", times: 3)
            try await harness.create("apps", "p", .init(defaultAction: .log))
            #expect(await eventually { harness.state("apps", "p") == .installed })
        }
        let failures = try metrics.expectCounter(
            "security_profiles_operator_seccomp_profile_error_total", [("reason", "CannotUpdateNodeStatus")]).totalValue
        #expect(failures == 3)
    }

    /// A profile deleted before this node claimed it is gone, not a failure: no error, no retry,
    /// no node status, and its file leaves the node.
    @Test func aProfileDeletedBeforeItsClaimIsNotAnError() async throws {
        let metrics = TestMetrics()
        try await DaemonHarness.run(metrics: metrics) { harness in
            // The claim reaches the server only after the profile is gone.
            harness.server.faults.inject(.delay(.seconds(2)), method: "PATCH", pathContains: "seccompprofiles/p", times: 1)
            try await harness.create("apps", "p", .init(defaultAction: .log))
            #expect(await eventually { harness.file("apps", "p") != nil })
            try await harness.client.resource(SeccompProfile.self).delete("p", namespace: "apps")
            #expect(await eventually { harness.file("apps", "p") == nil })
            try await Task.sleep(for: .milliseconds(2500))
            #expect(await eventually { harness.nodeStatus("apps", "p") == nil })
        }
        let failures = (try? metrics.expectCounter(
            "security_profiles_operator_seccomp_profile_error_total", [("reason", "CannotUpdateNodeStatus")]))?.totalValue ?? 0
        #expect(failures == 0)
    }

    @Test func filesOfProfilesDeletedWhileTheDaemonWasDownAreRemovedAtStart() async throws {
        try await DaemonHarness.run(prepare: { server, kubelet in
            let directory = "\(kubelet)/seccomp/operator/gone"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: "\(directory)/stale.json", contents: Data("{}".utf8))
            _ = FileManager.default.createFile(atPath: "\(kubelet)/seccomp/other-tool.json", contents: Data("{}".utf8))
        }) { harness in
            #expect(await eventually { harness.file("gone", "stale") == nil })
            #expect(FileManager.default.fileExists(atPath: "\(harness.kubelet)/seccomp/other-tool.json"), "files outside operator/ are never touched")
        }
    }
}

/// The local file system with an injectable failure of `replace` (a read-only or full disk).
final class FailingFileSystem: ProfileFileSystem {
    let failure = Locked<(pathContaining: String, code: Int32)?>(nil)
    private let local = LocalFileSystem()

    func read(_ path: String) throws -> [UInt8]? { try local.read(path) }
    func createDirectory(_ directory: String, mode: mode_t) throws { try local.createDirectory(directory, mode: mode) }
    func remove(_ path: String) throws -> Bool {
        if let failure = failure.value, path.contains(failure.pathContaining) {
            throw FileSystemError("remove", path, code: failure.code)
        }
        return try local.remove(path)
    }
    func entries(_ directory: String) throws -> [String] { try local.entries(directory) }

    func replace(_ path: String, with bytes: [UInt8], mode: mode_t) throws {
        if let failure = failure.value, path.contains(failure.pathContaining) {
            throw FileSystemError("write", path, code: failure.code)
        }
        try local.replace(path, with: bytes, mode: mode)
    }
}

@Suite struct AnnotationFingerprintTests {
    @Test func aFingerprintStandsForItsValueOnly() {
        let rules = #"[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]"#
        let fingerprint = AnnotationFingerprint.of(rules)
        #expect(fingerprint.hasPrefix("sha256:") && fingerprint.count == 7 + 64)
        #expect(AnnotationFingerprint.matches(fingerprint, rules))
        #expect(AnnotationFingerprint.matches(rules, rules), "a copy that was not trimmed")
        #expect(!AnnotationFingerprint.matches(fingerprint, rules + " "))
        #expect(!AnnotationFingerprint.matches(nil, rules))
        #expect(!AnnotationFingerprint.matches("sha256:" + String(repeating: "0", count: 64), rules))
    }

    @Test func trimmingTouchesOnlyTheNamedAnnotations() {
        let trim: @Sendable (SeccompProfile) -> SeccompProfile = AnnotationFingerprint.trimming(["syscalls"])
        let profile = SeccompProfile(metadata: ObjectMeta(name: "p", namespace: "apps", annotations: ["syscalls": "[]", "team": "a"]), spec: .init(defaultAction: .log))
        let trimmed = trim(profile)
        #expect(trimmed.metadata.annotations == ["syscalls": AnnotationFingerprint.of("[]"), "team": "a"])
        #expect(trimmed.spec == profile.spec)
        let plain = SeccompProfile(metadata: ObjectMeta(name: "q", namespace: "apps"), spec: .init(defaultAction: .log))
        #expect(trim(plain) == plain)
    }
}
