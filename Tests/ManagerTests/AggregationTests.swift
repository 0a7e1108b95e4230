import KubeModels
import KubeRuntime
import KubeTestServer
import SPOManager
import SPOAPI
import SPOManagerKit
import Testing

func nodeStatus(_ node: String, _ state: ProfileState, message: String? = nil) -> SecurityProfileNodeStatus {
    var status = SecurityProfileNodeStatus(metadata: ObjectMeta(name: "p-\(node)"), nodeName: node, status: state)
    if let message { status.metadata.annotations = [SPOMetadata.statusMessageAnnotation: message] }
    return status
}

@Suite struct AggregationTests {
    @Test(arguments: [
        ([ProfileState.installed, .installed, .installed], 3, ProfileState.installed),
        ([.installed, .pending, .installed], 3, .pending),
        ([.installed, .error, .pending], 3, .error),
        ([.installed, .inProgress], 2, .inProgress),
        ([.installed, .terminating, .partial], 3, .terminating),
        ([.disabled, .partial], 2, .partial),
        ([.disabled, .disabled], 2, .disabled),
        ([.installed, .installed], 3, .pending),  // a node has not reported yet
        ([.error], 3, .error),  // errors show before every node reported
        ([], 0, .installed),
        ([.installed], 0, .installed),  // no DaemonSet known: what reported counts
    ])
    func theLowestStateWins(states: [ProfileState], expected nodes: Int, result: ProfileState) {
        let statuses = states.enumerated().map { nodeStatus("node-\($0.offset)", $0.element) }
        #expect(ProfileAggregation.aggregate(statuses, expectedNodes: nodes).state == result)
    }

    @Test func theReadyConditionFollowsTheReferenceMapping() {
        let expected: [(ProfileState, String, String)] = [
            (.pending, "False", "Creating"), (.inProgress, "False", "Creating"), (.installed, "True", "Available"),
            (.terminating, "False", "Deleting"), (.error, "False", "Unavailable"), (.partial, "False", "Unavailable"),
            (.disabled, "False", "Unavailable"),
        ]
        for (state, status, reason) in expected {
            let condition = ProfileAggregation.readyCondition(for: AggregatedStatus(state: state), now: "t")
            #expect(condition.type == "Ready" && condition.status == status && condition.reason == reason, "\(state)")
        }
    }

    @Test func anErrorCarriesTheFirstNodesMessage() {
        let statuses = [
            nodeStatus("node-b", .error, message: "syscall not allowed: mount"),
            nodeStatus("node-a", .error, message: "syscall not allowed: mkdir, read"),
            nodeStatus("node-c", .installed),
        ]
        let aggregate = ProfileAggregation.aggregate(statuses, expectedNodes: 3)
        #expect(aggregate == AggregatedStatus(state: .error, message: "node-a: syscall not allowed: mkdir, read"))
        #expect(ProfileAggregation.readyCondition(for: aggregate, now: "t").message == "node-a: syscall not allowed: mkdir, read")
    }

    @Test func applyingSetsTheKindFieldAndKeepsTheTransitionTimeWhenNothingChanged() {
        let profile = SeccompProfile(metadata: ObjectMeta(name: "p", namespace: "apps"), spec: .init(defaultAction: .log))
        let first = ProfileAggregation.applying(AggregatedStatus(state: .installed), to: profile, now: "2026-01-01T00:00:00Z")
        #expect(first.status?.status == .installed)
        #expect(first.status?.localhostProfile == "operator/apps/p.json")
        #expect(first.status?.conditions?.map(\.lastTransitionTime) == ["2026-01-01T00:00:00Z"])
        let again = ProfileAggregation.applying(AggregatedStatus(state: .installed), to: first, now: "2026-02-02T00:00:00Z")
        #expect(again == first, "no write when nothing but the clock changed")
        let changed = ProfileAggregation.applying(AggregatedStatus(state: .pending), to: first, now: "2026-02-02T00:00:00Z")
        #expect(changed.status?.conditions?.map(\.lastTransitionTime) == ["2026-02-02T00:00:00Z"])
        #expect(changed.status?.conditions?.count == 1)

        let selinux = ProfileAggregation.applying(AggregatedStatus(state: .installed), to: SelinuxProfile(metadata: ObjectMeta(name: "web", namespace: "apps"), spec: .init()), now: "t")
        #expect(selinux.status?.usage == "web_apps.process")
    }
}

@Suite struct WorkloadReferenceTests {
    func pod(namespace: String = "apps", spec: JSONValue, annotations: [String: String]? = nil) -> Pod {
        Pod(metadata: ObjectMeta(name: "pod", namespace: namespace, annotations: annotations), spec: spec)
    }

    @Test func seccompReferencesComeFromPodContainersInitContainersAndTheLegacyAnnotation() {
        let references = WorkloadReferences(pod: pod(spec: [
            "securityContext": ["seccompProfile": ["type": "Localhost", "localhostProfile": "operator/apps/pod-level.json"]],
            "containers": [
                ["name": "a", "securityContext": ["seccompProfile": ["type": "Localhost", "localhostProfile": "operator/other/cross-namespace.json"]]],
                ["name": "b", "securityContext": ["seccompProfile": ["type": "RuntimeDefault"]]],
                ["name": "c", "securityContext": ["seccompProfile": ["type": "Localhost", "localhostProfile": "profiles/not-ours.json"]]],
                ["name": "d", "securityContext": ["seccompProfile": ["type": "Localhost", "localhostProfile": "operator/apps/deep/x.json"]]],
            ],
            "initContainers": [["name": "i", "securityContext": ["seccompProfile": ["type": "Localhost", "localhostProfile": "operator/apps/init.json"]]]],
        ], annotations: ["seccomp.security.alpha.kubernetes.io/pod": "localhost/operator/apps/legacy.json"]))
        #expect(references.seccompProfiles == [
            ObjectKey(namespace: "apps", name: "pod-level"), ObjectKey(namespace: "other", name: "cross-namespace"),
            ObjectKey(namespace: "apps", name: "init"), ObjectKey(namespace: "apps", name: "legacy"),
        ])
    }

    @Test func selinuxReferencesAreTypesFromPodAndContainerContexts() {
        let references = WorkloadReferences(pod: pod(spec: [
            "securityContext": ["seLinuxOptions": ["type": "web_apps.process"]],
            "containers": [["name": "a", "securityContext": ["seLinuxOptions": ["type": "log_apps.process", "level": "s0"]]], ["name": "b"]],
        ]))
        #expect(references.selinuxTypes == ["web_apps.process", "log_apps.process"])
    }
}

/// The pod index the manager's workload tracking reads: kept by the pod informer's events.
@Suite struct WorkloadIndexTests {
    func pod(_ namespace: String, _ name: String, seccomp: String? = nil, selinux: String? = nil) -> Pod {
        var context: [String: JSONValue] = [:]
        if let seccomp { context["seccompProfile"] = ["type": "Localhost", "localhostProfile": .string(seccomp)] }
        if let selinux { context["seLinuxOptions"] = ["type": .string(selinux)] }
        return Pod(metadata: ObjectMeta(name: name, namespace: namespace), spec: ["containers": [["name": "c", "securityContext": .object(context)]]])
    }

    func seccomp(_ namespace: String, _ name: String) -> SeccompProfile {
        SeccompProfile(metadata: ObjectMeta(name: name, namespace: namespace), spec: .init(defaultAction: .allow))
    }

    func selinux(_ namespace: String, _ name: String, installed: Bool = true) -> SelinuxProfile {
        SelinuxProfile(metadata: ObjectMeta(name: name, namespace: namespace, labels: installed ? [SPOMetadata.profileIDLabel: "SelinuxProfile-\(name)"] : nil), spec: .init())
    }

    @Test func podsAreFoundByTheProfilesTheyUseAcrossAddUpdateAndDelete() {
        let index = WorkloadIndex()
        let changed = Locked<[WorkloadIndex.Reference]>([])
        let handler = index.handler { reference in changed.withLock { $0.append(reference) } }
        let web = pod("apps", "web", seccomp: "operator/apps/p.json")
        let job = pod("batch", "job", seccomp: "operator/apps/p.json")
        handler.onAdd(web)
        handler.onAdd(job)
        handler.onAdd(pod("apps", "plain"))
        #expect(index.pods(using: seccomp("apps", "p")) == [web.key, job.key], "a pod may use another namespace's profile")
        #expect(index.pods(using: seccomp("batch", "p")).isEmpty)

        // The web pod moves to another profile: both profiles are reported changed.
        changed.withLock { $0.removeAll() }
        handler.onUpdate(web, pod("apps", "web", seccomp: "operator/apps/q.json"))
        #expect(index.pods(using: seccomp("apps", "p")) == [job.key])
        #expect(index.pods(using: seccomp("apps", "q")) == [web.key])
        #expect(Set(changed.withLock { $0 }.map(\.profile.name)) == ["p", "q"])

        handler.onDelete(job)
        #expect(index.pods(using: seccomp("apps", "p")).isEmpty)
        #expect(changed.withLock { $0 }.last == WorkloadIndex.Reference(kind: .seccomp, profile: ObjectKey(namespace: "apps", name: "p")))
    }

    @Test func selinuxUseNeedsTheTypeOfThePodsNamespaceAndAnInstalledProfile() {
        let index = WorkloadIndex()
        let handler = index.handler { _ in }
        let web = pod("apps", "web", selinux: "web_apps.process")
        handler.onAdd(web)
        handler.onAdd(pod("other", "elsewhere", selinux: "web_apps.process"))
        handler.onAdd(pod("apps", "underscored", selinux: "my_web_apps.process"))
        #expect(index.pods(using: selinux("apps", "web")) == [web.key], "the type names the pod's own namespace")
        #expect(index.pods(using: selinux("apps", "web", installed: false)).isEmpty, "no profile-id label yet: not installed by any node")
        #expect(index.pods(using: selinux("apps", "my_web")).map(\.name) == ["underscored"])
        #expect(index.pods(using: seccomp("apps", "web")).isEmpty, "kinds do not mix")
    }
}
