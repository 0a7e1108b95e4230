import KubeModels
import SPOAPI
import SPOWebhookKit
import Testing

/// The ProfileBinding mutation (reference §5.8, checklist 63-69) without any I/O.
@Suite struct BindingMutationTests {
    static let image = "quay.io/security-profiles-operator/test-hello-world:latest"

    func binding(_ name: String, _ kind: BoundProfileKind, _ profile: String, image: String = image) -> ProfileBinding {
        ProfileBinding(metadata: ObjectMeta(name: name, namespace: "apps"), spec: .init(profileRef: .init(kind: kind, name: profile), image: image))
    }

    func pod(containers: [(String, String)], initContainers: [(String, String)] = [], podSecurity: JSONValue? = nil) -> JSONValue {
        var spec: JSONValue = ["containers": .array(containers.map { ["name": .string($0.0), "image": .string($0.1)] })]
        if !initContainers.isEmpty { spec["initContainers"] = .array(initContainers.map { ["name": .string($0.0), "image": .string($0.1)] }) }
        if let podSecurity { spec["securityContext"] = podSecurity }
        return ["metadata": ["name": "hello", "namespace": "apps"], "spec": spec]
    }

    func ready(_ kind: BoundProfileKind, _ name: String) -> BoundProfileState {
        switch kind {
        case .seccompProfile: .ready(reference: "operator/apps/\(name).json")
        case .selinuxProfile: .ready(reference: "\(name)_apps.process")
        default: .ready(reference: name)
        }
    }

    func admitted(_ decision: BindingMutation.Decision) throws -> (JSONValue, [String]) {
        guard case .admit(let pod, let applied) = decision else { throw Denied(decision: decision) }
        return (pod, applied)
    }

    struct Denied: Error { var decision: BindingMutation.Decision }

    @Test func aMatchingContainerGetsTheSeccompProfile() throws {
        let (mutated, applied) = try admitted(BindingMutation.decide(
            pod: pod(containers: [("hello", Self.image), ("other", "nginx")]), namespace: "apps",
            bindings: [binding("b", .seccompProfile, "profile-allow-unsafe")], profile: ready))
        #expect(applied == ["b"])
        #expect(mutated[path: ["spec"]]?["containers"]?.arrayValue?[0][path: ["securityContext", "seccompProfile"]] == ["type": "Localhost", "localhostProfile": "operator/apps/profile-allow-unsafe.json"])
        #expect(mutated[path: ["spec"]]?["containers"]?.arrayValue?[1]["securityContext"] == nil, "other images are left alone")
    }

    @Test func initContainersMatchTooAndSelinuxSetsTheType() throws {
        let (mutated, _) = try admitted(BindingMutation.decide(
            pod: pod(containers: [("main", "nginx")], initContainers: [("init", "busybox:latest")]), namespace: "apps",
            bindings: [binding("b", .selinuxProfile, "errorlogger", image: "busybox:latest")], profile: ready))
        #expect(mutated[path: ["spec"]]?["initContainers"]?.arrayValue?[0][path: ["securityContext", "seLinuxOptions"]] == ["type": "errorlogger_apps.process"])
    }

    @Test func appArmorBindingsSetTheGAField() throws {
        let (mutated, _) = try admitted(BindingMutation.decide(
            pod: pod(containers: [("main", "nginx")]), namespace: "apps",
            bindings: [binding("b", .appArmorProfile, "aa-errorlogger-profile", image: "nginx")], profile: ready))
        #expect(mutated[path: ["spec"]]?["containers"]?.arrayValue?[0][path: ["securityContext", "appArmorProfile"]] == ["type": "Localhost", "localhostProfile": "aa-errorlogger-profile"])
    }

    /// Checklist 66: existing values are never overridden (upstream's `pod unchanged`).
    @Test func anExistingSettingIsKept() throws {
        var original = pod(containers: [("hello", Self.image)])
        original[path: ["spec", "containers"]] = [["name": "hello", "image": .string(Self.image), "securityContext": ["seccompProfile": ["type": "RuntimeDefault"]]]]
        let (mutated, applied) = try admitted(BindingMutation.decide(pod: original, namespace: "apps", bindings: [binding("b", .seccompProfile, "p")], profile: ready))
        #expect(mutated == original && applied.isEmpty)
    }

    /// Image match is exact: no tag defaulting, no prefix.
    @Test func imagesMatchExactly() throws {
        for image in ["quay.io/security-profiles-operator/test-hello-world", "quay.io/security-profiles-operator/test-hello-world:latest2", "docker.io/nginx"] {
            let (mutated, applied) = try admitted(BindingMutation.decide(
                pod: pod(containers: [("c", image)]), namespace: "apps", bindings: [binding("b", .seccompProfile, "p"), binding("n", .seccompProfile, "q", image: "nginx")], profile: ready))
            #expect(applied.isEmpty && mutated == pod(containers: [("c", image)]), "\(image)")
        }
    }

    /// Checklist 65: `*` sets the pod level, and only when no image-specific binding changed the pod.
    @Test func theDefaultBindingSetsThePodLevelOnlyWhenNothingElseApplied() throws {
        let star = binding("all", .seccompProfile, "default-profile", image: "*")
        let (mutated, applied) = try admitted(BindingMutation.decide(pod: pod(containers: [("c", "nginx")]), namespace: "apps", bindings: [star], profile: ready))
        #expect(applied == ["all"])
        #expect(mutated[path: ["spec", "securityContext", "seccompProfile"]] == ["type": "Localhost", "localhostProfile": "operator/apps/default-profile.json"])
        #expect(mutated[path: ["spec"]]?["containers"]?.arrayValue?[0]["securityContext"] == nil)
        let (specific, used) = try admitted(BindingMutation.decide(
            pod: pod(containers: [("hello", Self.image)]), namespace: "apps", bindings: [star, binding("b", .seccompProfile, "p")], profile: ready))
        #expect(used == ["b"] && specific[path: ["spec", "securityContext"]] == nil)
        // A pod-level setting already there is kept.
        let preset = pod(containers: [("c", "nginx")], podSecurity: ["seccompProfile": ["type": "RuntimeDefault"]])
        #expect(try admitted(BindingMutation.decide(pod: preset, namespace: "apps", bindings: [star], profile: ready)).0 == preset)
    }

    /// Beyond upstream (checklist 69 changed): a missing or uninitialised profile rejects only
    /// the pods the binding would change, naming both.
    @Test func aMissingProfileRejectsOnlyThePodsItWouldChange() throws {
        let bindings = [binding("b", .seccompProfile, "absent")]
        let decision = BindingMutation.decide(pod: pod(containers: [("hello", Self.image)]), namespace: "apps", bindings: bindings) { _, _ in .missing }
        #expect(decision == .deny(message: "ProfileBinding apps/b binds image \"\(Self.image)\" to SeccompProfile absent, which does not exist in namespace apps: create it or delete the binding"))
        let uninitialized = BindingMutation.decide(pod: pod(containers: [("hello", Self.image)]), namespace: "apps", bindings: bindings) { _, _ in .uninitialized }
        guard case .deny(let message) = uninitialized else { Issue.record("\(uninitialized)"); return }
        #expect(message.contains("which no node has reported on yet"))
        // Another image in the same namespace is admitted.
        let other = BindingMutation.decide(pod: pod(containers: [("x", "nginx")]), namespace: "apps", bindings: bindings) { _, _ in .missing }
        #expect(try admitted(other).1.isEmpty)
    }

    @Test func bindingsBeingDeletedOrOfUnknownKindsDoNothing() throws {
        var deleting = binding("b", .seccompProfile, "p")
        deleting.metadata.deletionTimestamp = "2026-01-01T00:00:00Z"
        let unknown = binding("u", BoundProfileKind(rawValue: "RawSelinuxProfile"), "p")
        let original = pod(containers: [("hello", Self.image)])
        #expect(try admitted(BindingMutation.decide(pod: original, namespace: "apps", bindings: [deleting, unknown], profile: ready)).0 == original)
    }

    /// The trackers' rule: a pod is a binding's workload when it runs with what the binding sets.
    @Test func boundPodsAreThoseRunningWithTheBindingsSetting() throws {
        let specific = binding("b", .seccompProfile, "p")
        let (mutated, _) = try admitted(BindingMutation.decide(pod: pod(containers: [("hello", Self.image)]), namespace: "apps", bindings: [specific], profile: ready))
        #expect(BindingMutation.isBound(mutated, to: specific, namespace: "apps"))
        #expect(!BindingMutation.isBound(pod(containers: [("hello", Self.image)]), to: specific, namespace: "apps"))
        #expect(!BindingMutation.isBound(mutated, to: binding("b2", .seccompProfile, "other"), namespace: "apps"))
        let star = binding("all", .selinuxProfile, "s", image: "*")
        let (starred, _) = try admitted(BindingMutation.decide(pod: pod(containers: [("c", "nginx")]), namespace: "apps", bindings: [star], profile: ready))
        #expect(BindingMutation.isBound(starred, to: star, namespace: "apps"))
    }
}
