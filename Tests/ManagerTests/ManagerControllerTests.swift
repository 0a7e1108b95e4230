import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import Logging
import SPOAPI
import SPOManager
import SPOManagerKit
import ServiceLifecycleTestKit
import Testing

let operatorNamespace = "security-profiles-operator"

/// A manager running against a fresh test API server. The test plays the other actors: the
/// DaemonSet controller (``rollOut(nodes:)``), the daemons (node statuses) and the users.
struct ManagerHarness {
    let client: KubernetesClient
    let server: KubeTestServer
    let manager: OperatorManager

    static let resources = TestResource.builtIn + [TestResource(DaemonSet.self), TestResource(KubeService.self, statusSubresource: false)]
        + CRDs.all.map { TestResource($0.resource, statusSubresource: $0.statusSubresource) }
    static let reflector = ReflectorStateMachine.Configuration(backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(200), jitter: 0))

    static func configuration() -> ManagerConfiguration {
        ManagerConfiguration(operatorNamespace: operatorNamespace, daemonSet: DaemonSetSettings(image: "registry.example/spo:1.0"))
    }

    static func run(prepare: (KubeTestServer) throws -> Void = { _ in }, _ body: (ManagerHarness) async throws -> Void) async throws {
        try await KubeTestServer.withServer(resources: resources) { server in
            try prepare(server)
            try await KubernetesClient.withClient(configuration: server.clientConfiguration()) { client in
                let manager = OperatorManager(client: client, configuration: configuration(), reflector: reflector)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try? await manager.run() }
                    defer { group.cancelAll() }
                    try await body(ManagerHarness(client: client, server: server, manager: manager))
                }
            }
        }
    }

    var spod: SecurityProfilesOperatorDaemon? { server.object(SecurityProfilesOperatorDaemon.self, namespace: operatorNamespace, name: "spod") }
    var daemonSet: DaemonSet? { server.object(DaemonSet.self, namespace: operatorNamespace, name: "spod") }

    func patchSpod(_ patch: JSONValue) async throws {
        _ = try await client.resource(SecurityProfilesOperatorDaemon.self).patch("spod", namespace: operatorNamespace, patch: .merge(patch))
    }

    /// Does what the DaemonSet controller does once the pods of the current template run on `nodes` nodes.
    func rollOut(nodes: Int64) throws {
        _ = try server.modifyStatus(DaemonSet.self, namespace: operatorNamespace, name: "spod") { daemonSet in
            daemonSet.status = DaemonSetStatus(
                desiredNumberScheduled: nodes, currentNumberScheduled: nodes, updatedNumberScheduled: nodes,
                numberReady: nodes, numberAvailable: nodes, numberUnavailable: 0, observedGeneration: daemonSet.metadata.generation)
        }
    }

    func addNode(_ name: String) throws {
        _ = try server.seed(Node(metadata: ObjectMeta(name: name)))
    }

    /// What a node's daemon reports for `profile`.
    func report<P: KubeResource>(_ profile: P, node: String, _ state: ProfileState, message: String? = nil) async throws {
        var status = ProfileIdentity.nodeStatus(for: profile, nodeName: node, state: state)
        if let message { status.metadata.annotations = [SPOMetadata.statusMessageAnnotation: message] }
        let statuses = client.resource(SecurityProfileNodeStatus.self)
        if let existing = server.object(SecurityProfileNodeStatus.self, namespace: status.metadata.namespace, name: status.metadata.name ?? "") {
            status.metadata.resourceVersion = existing.metadata.resourceVersion
            _ = try await statuses.update(status)
        } else {
            _ = try await statuses.create(status)
        }
    }

    func seccompProfile(_ namespace: String, _ name: String) -> SeccompProfile? {
        server.object(SeccompProfile.self, namespace: namespace, name: name)
    }

    @discardableResult
    func createSeccompProfile(_ namespace: String, _ name: String, finalizers: [String]? = nil) async throws -> SeccompProfile {
        try await client.resource(SeccompProfile.self).create(SeccompProfile(
            metadata: ObjectMeta(name: name, namespace: namespace, finalizers: finalizers), spec: .init(defaultAction: .log)))
    }

    func events(reason: String) -> [Event] {
        server.objects(Event.resource).compactMap { try? $0.decode(as: Event.self) }.filter { $0.reason == reason }
    }
}

@Suite struct SpodControllerTests {
    @Test func theDefaultSpodIsCreatedAndRenderedAndRunningOnlyAfterTheRollout() async throws {
        try await ManagerHarness.run { harness in
            #expect(await eventually { harness.daemonSet != nil })
            let spod = try #require(harness.spod)
            #expect(spod.spec == SecurityProfilesOperatorDaemon.defaultObject(namespace: operatorNamespace, staticWebhookConfig: false).spec)
            let daemonSet = try #require(harness.daemonSet)
            #expect(daemonSet.metadata.ownerReferences?.first?.uid == spod.metadata.uid)
            #expect(await eventually { harness.spod?.status?.state == .creating })
            let service = harness.server.object(KubeService.self, namespace: operatorNamespace, name: "metrics")
            #expect(service?.spec?["ports"] == [
                ["name": "https", "port": 443, "targetPort": 9443, "protocol": "TCP"],
                ["name": "https-enricher", "port": 9444, "targetPort": "https-enricher", "protocol": "TCP"],
            ])
            #expect(service?.metadata.ownerReferences?.first?.uid == spod.metadata.uid)

            // A stale DaemonSet status (nothing observed yet) is not "running".
            _ = try harness.server.modifyStatus(DaemonSet.self, namespace: operatorNamespace, name: "spod") {
                $0.status = DaemonSetStatus(desiredNumberScheduled: 0, numberReady: 0)
            }
            try await Task.sleep(for: .milliseconds(200))
            #expect(harness.spod?.status?.state == .creating)
            try harness.rollOut(nodes: 3)
            #expect(await eventually { harness.spod?.status?.state == .running })
            let ready = harness.spod?.status?.conditions?.first { $0.type == "Ready" }
            #expect(ready?.status == "True" && ready?.reason == "Available")
            #expect(ready?.message == "the daemon runs on all 3 scheduled nodes")
        }
    }

    @Test(arguments: seedPatches.map(\.file))
    func eachSeedPatchChangesExactlyItsDaemonSetFields(file: String) async throws {
        try await ManagerHarness.run { harness in
            #expect(await eventually { harness.daemonSet != nil })
            try harness.rollOut(nodes: 2)
            #expect(await eventually { harness.spod?.status?.state == .running })
            let before = try #require(harness.daemonSet)
            try await harness.patchSpod(try examplePatch(file))
            let expected = try #require(seedPatches.first { $0.file == file }).changes
            if expected.isEmpty {
                try await Task.sleep(for: .milliseconds(300))
                #expect(harness.daemonSet?.metadata.generation == before.metadata.generation, "no rollout for \(file)")
                #expect(harness.spod?.status?.state == .running)
            } else {
                #expect(await eventually { harness.daemonSet?.metadata.generation != before.metadata.generation })
                #expect(await eventually { harness.spod?.status?.state == .updating })
                // Compared after the API's round trip: nulls the renderer sends are simply absent.
                let after = try #require(harness.daemonSet)
                #expect(changedPaths(before.spec, after.spec).filter { !$0.hasSuffix("hostPID") || expected.contains($0) } == expected)
                try harness.rollOut(nodes: 2)
                #expect(await eventually { harness.spod?.status?.state == .running })
            }
        }
    }

    @Test func aDeletedDaemonSetIsRecreatedAndAManualEditReverted() async throws {
        try await ManagerHarness.run { harness in
            #expect(await eventually { harness.daemonSet != nil })
            let rendered = try #require(harness.daemonSet)
            try harness.server.remove(DaemonSet.resource, namespace: operatorNamespace, name: "spod")
            #expect(await eventually { harness.daemonSet != nil && harness.daemonSet?.metadata.uid != rendered.metadata.uid })

            // Someone swaps the image and adds their own annotation to the template.
            _ = try await harness.client.resource(DaemonSet.self).update("spod", namespace: operatorNamespace) { daemonSet in
                var containers = daemonSet.spec?[path: ["template", "spec", "containers"]]?.arrayValue ?? []
                containers[0]["image"] = "evil.example/spo:latest"
                daemonSet.spec?[path: ["template", "spec", "containers"]] = .array(containers)
                daemonSet.spec?[path: ["template", "metadata", "annotations", "kubectl.kubernetes.io/restartedAt"]] = "now"
            }
            #expect(await eventually {
                harness.daemonSet?.spec?[path: ["template", "spec", "containers"]]?.arrayValue?.first?["image"] == "registry.example/spo:1.0"
            })
            #expect(harness.daemonSet?.spec?[path: ["template", "metadata", "annotations", "kubectl.kubernetes.io/restartedAt"]] == "now",
                    "fields the manager does not render are left alone (kubectl rollout restart keeps working)")
        }
    }

    @Test func anInvalidSpecIsAnErrorAndLeavesTheDaemonSetIntact() async throws {
        try await ManagerHarness.run { harness in
            #expect(await eventually { harness.daemonSet != nil })
            try harness.rollOut(nodes: 1)
            #expect(await eventually { harness.spod?.status?.state == .running })
            let before = try #require(harness.daemonSet)
            try await harness.patchSpod(["spec": [
                "daemonResourceRequirements": ["requests": ["memory": "-1Gi"]],
                "priorityClassName": "Not_A_Name",
                "tolerations": [["key": "a", "operator": "Exists", "value": "x"]],
            ]])
            #expect(await eventually { harness.spod?.status?.state == .error })
            let ready = try #require(harness.spod?.status?.conditions?.first { $0.type == "Ready" })
            #expect(ready.status == "False")
            #expect(ready.message.contains(#"spec.daemonResourceRequirements.requests[memory]: Invalid value: "-1Gi": must be greater than or equal to 0"#))
            #expect(ready.message.contains("spec.priorityClassName: Invalid value"))
            #expect(ready.message.contains("spec.tolerations[0].value: Invalid value"))
            #expect(await eventually { harness.events(reason: "CannotUpdateSPOD").count == 1 })
            #expect(harness.daemonSet?.spec == before.spec && harness.daemonSet?.metadata.generation == before.metadata.generation)

            // Fixing the spec recovers.
            try await harness.patchSpod(["spec": ["daemonResourceRequirements": .null, "priorityClassName": "fine", "tolerations": .null]])
            #expect(await eventually { harness.spod?.status?.state == .updating })
            #expect(harness.daemonSet?.spec?[path: ["template", "spec", "priorityClassName"]] == "fine")
        }
    }

    @Test func theLogEnricherBringsItsTraceProfile() async throws {
        try await ManagerHarness.run { harness in
            #expect(await eventually { harness.daemonSet != nil })
            try await harness.patchSpod(["spec": ["enableLogEnricher": true]])
            #expect(await eventually { harness.seccompProfile(operatorNamespace, "log-enricher-trace") != nil })
            #expect(harness.seccompProfile(operatorNamespace, "log-enricher-trace")?.spec?.defaultAction == .log)
        }
    }

    @Test func anExistingSpodIsKept() async throws {
        var mine = SecurityProfilesOperatorDaemon.defaultObject(namespace: operatorNamespace, staticWebhookConfig: false)
        mine.spec?.verbosity = 1
        try await ManagerHarness.run(prepare: { server in _ = try server.seed(mine) }) { harness in
            #expect(await eventually { harness.daemonSet != nil })
            #expect(harness.spod?.spec?.verbosity == 1)
            let daemon = harness.daemonSet?.spec?[path: ["template", "spec", "containers"]]?.arrayValue?.first
            #expect(daemon?["env"]?.arrayValue?.contains(["name": "SPO_VERBOSITY", "value": "1"]) == true)
        }
    }
}

@Suite struct ProfileStatusAggregationTests {
    @Test func theProfileFollowsItsNodesAndForgetsNodesThatLeft() async throws {
        try await ManagerHarness.run(prepare: { server in
            for node in ["node-1", "node-2", "node-3"] { _ = try server.seed(Node(metadata: ObjectMeta(name: node))) }
        }) { harness in
            #expect(await eventually { harness.daemonSet != nil })
            try harness.rollOut(nodes: 3)
            let profile = try await harness.createSeccompProfile("apps", "p", finalizers: ["node-1-deleted", "node-2-deleted", "node-3-deleted"])
            func state() -> ProfileState? { harness.seccompProfile("apps", "p")?.status?.status }
            func ready() -> Condition? { harness.seccompProfile("apps", "p")?.status?.conditions?.first { $0.type == "Ready" } }

            try await harness.report(profile, node: "node-1", .installed)
            try await harness.report(profile, node: "node-2", .installed)
            #expect(await eventually { state() == .pending }, "one node has not reported")
            #expect(harness.seccompProfile("apps", "p")?.status?.localhostProfile == "operator/apps/p.json")
            try await harness.report(profile, node: "node-3", .installed)
            #expect(await eventually { state() == .installed })
            #expect(ready()?.status == "True" && ready()?.reason == "Available")

            try await harness.report(profile, node: "node-2", .error, message: "syscall not allowed: mkdir")
            #expect(await eventually { state() == .error })
            #expect(ready()?.reason == "Unavailable" && ready()?.message == "node-2: syscall not allowed: mkdir")

            // node-2 leaves the cluster: its status and finalizer go, the rest is recomputed.
            try harness.server.remove(Node.resource, name: "node-2")
            try harness.rollOut(nodes: 2)
            #expect(await eventually { state() == .installed })
            #expect(harness.server.object(SecurityProfileNodeStatus.self, namespace: "apps", name: "p-node-2") == nil)
            #expect(harness.seccompProfile("apps", "p")?.metadata.finalizers == ["node-1-deleted", "node-3-deleted"])

            // A node joins: Pending until its daemon reports.
            try harness.addNode("node-4")
            try harness.rollOut(nodes: 3)
            #expect(await eventually { state() == .pending })
            try await harness.report(profile, node: "node-4", .installed)
            #expect(await eventually { state() == .installed })
        }
    }

    @Test func everyProfileKindIsAggregated() async throws {
        try await ManagerHarness.run(prepare: { server in _ = try server.seed(Node(metadata: ObjectMeta(name: "node-1"))) }) { harness in
            #expect(await eventually { harness.daemonSet != nil })
            try harness.rollOut(nodes: 1)
            let selinux = try await harness.client.resource(SelinuxProfile.self).create(SelinuxProfile(metadata: ObjectMeta(name: "web", namespace: "apps"), spec: .init()))
            let raw = try await harness.client.resource(RawSelinuxProfile.self).create(RawSelinuxProfile(metadata: ObjectMeta(name: "raw", namespace: "apps"), spec: .init(policy: "(blockinherit container)")))
            let appArmor = try await harness.client.resource(AppArmorProfile.self).create(AppArmorProfile(metadata: ObjectMeta(name: "aa", namespace: "apps"), spec: .init(policy: "profile aa {}")))
            try await harness.report(selinux, node: "node-1", .inProgress)
            try await harness.report(raw, node: "node-1", .installed)
            try await harness.report(appArmor, node: "node-1", .error, message: "AppArmor not supported on node")
            #expect(await eventually { harness.server.object(SelinuxProfile.self, namespace: "apps", name: "web")?.status?.status == .inProgress })
            #expect(harness.server.object(SelinuxProfile.self, namespace: "apps", name: "web")?.status?.usage == "web_apps.process")
            #expect(await eventually { harness.server.object(RawSelinuxProfile.self, namespace: "apps", name: "raw")?.status?.status == .installed })
            #expect(await eventually { harness.server.object(AppArmorProfile.self, namespace: "apps", name: "aa")?.status?.status == .error })
            #expect(harness.server.object(AppArmorProfile.self, namespace: "apps", name: "aa")?.status?.conditions?.first?.message == "node-1: AppArmor not supported on node")
        }
    }
}

@Suite struct WorkloadTrackingTests {
    @Test func podsUsingAProfileHoldItAndAreListed() async throws {
        try await ManagerHarness.run { harness in
            try await harness.createSeccompProfile("apps", "p")
            let pods = harness.client.resource(Pod.self)
            let spec: JSONValue = ["containers": [["name": "c", "image": "busybox", "securityContext": ["seccompProfile": ["type": "Localhost", "localhostProfile": "operator/apps/p.json"]]]]]
            _ = try await pods.create(Pod(metadata: ObjectMeta(name: "web-1", namespace: "apps"), spec: spec))
            _ = try await pods.create(Pod(metadata: ObjectMeta(name: "job", namespace: "batch", annotations: ["seccomp.security.alpha.kubernetes.io/pod": "localhost/operator/apps/p.json"]), spec: ["containers": [["name": "c", "image": "busybox"]]]))
            _ = try await pods.create(Pod(metadata: ObjectMeta(name: "other", namespace: "apps"), spec: ["containers": [["name": "c", "image": "busybox"]]]))
            #expect(await eventually { harness.seccompProfile("apps", "p")?.status?.activeWorkloads == ["apps/web-1", "batch/job"] })
            #expect(await eventually { harness.seccompProfile("apps", "p")?.metadata.finalizers == ["in-use-by-active-pods"] })

            // Deleting the profile waits for the pods.
            try await harness.client.resource(SeccompProfile.self).delete("p", namespace: "apps")
            try await pods.delete("web-1", namespace: "apps")
            #expect(await eventually { harness.seccompProfile("apps", "p")?.status?.activeWorkloads == ["batch/job"] })
            #expect(harness.seccompProfile("apps", "p") != nil)
            try await pods.delete("job", namespace: "batch")
            #expect(await eventually { harness.seccompProfile("apps", "p") == nil }, "the last pod gone, the finalizer goes and the deletion completes")
        }
    }
}

@Suite struct ManagerLeadershipTests {
    /// A lease long enough that a test process stalled on a busy machine keeps its leadership;
    /// the handover tested here is the graceful release, which does not wait for expiry.
    func elector(_ identity: String, client: KubernetesClient) -> LeaderElector {
        LeaderElector(client: client, configuration: .init(
            leaseName: "security-profiles-operator-lock", namespace: operatorNamespace, identity: identity,
            leaseDuration: .seconds(15), renewDeadline: .seconds(10), retryPeriod: .milliseconds(100)))
    }

    @Test func onlyTheLeaderReconcilesAndTheOtherTakesOverWhenItStops() async throws {
        try await KubeTestServer.withServer(resources: ManagerHarness.resources) { server in
            try await KubernetesClient.withClient(configuration: server.clientConfiguration()) { client in
                let (electorA, electorB) = (elector("a", client: client), elector("b", client: client))
                let managerA = OperatorManager(client: client, configuration: ManagerHarness.configuration(), elector: electorA, reflector: ManagerHarness.reflector)
                let managerB = OperatorManager(client: client, configuration: ManagerHarness.configuration(), elector: electorB, reflector: ManagerHarness.reflector)
                let harness = ManagerHarness(client: client, server: server, manager: managerA)
                try await testGracefulShutdown { trigger in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await electorA.run() }
                        group.addTask { try await managerA.run() }
                        #expect(await electorA.waitUntilLeader())
                        // Detached: B must not inherit A's graceful-shutdown trigger.
                        let runB = Task.detached {
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                group.addTask { try await electorB.run() }
                                group.addTask { try await managerB.run() }
                                try await group.waitForAll()
                            }
                        }
                        defer { runB.cancel() }
                        #expect(await eventually { harness.daemonSet != nil })
                        try await Task.sleep(for: .milliseconds(300))
                        #expect(!electorB.isLeader && !managerB.hasSynced, "the standby neither leads nor lists")

                        trigger.triggerGracefulShutdown()
                        try await group.waitForAll()
                        #expect(await eventually { electorB.isLeader })
                        // The new leader reconciles: a spod change reaches the DaemonSet.
                        try await harness.patchSpod(["spec": ["priorityClassName": "after-handover"]])
                        #expect(await eventually {
                            harness.daemonSet?.spec?[path: ["template", "spec", "priorityClassName"]] == "after-handover"
                        })
                    }
                }
            }
        }
    }
}
