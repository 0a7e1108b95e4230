import KubeModels
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

    @Test func selinuxReferencesNeedTheTypeOfTheirNamespaceAndTheProfileIDLabel() {
        let references = WorkloadReferences(pod: pod(spec: ["containers": [["name": "a", "securityContext": ["seLinuxOptions": ["type": "web_apps.process"]]]]]))
        var profile = SelinuxProfile(metadata: ObjectMeta(name: "web", namespace: "apps"), spec: .init())
        #expect(!references.uses(profile, podNamespace: "apps"), "no profile-id label yet: not installed by any node")
        profile.metadata.labels = [SPOMetadata.profileIDLabel: "SelinuxProfile-web"]
        #expect(references.uses(profile, podNamespace: "apps"))
        #expect(!references.uses(profile, podNamespace: "other"))
    }
}
