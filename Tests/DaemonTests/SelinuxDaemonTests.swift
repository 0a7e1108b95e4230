import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import SPOAPI
import SPODaemon
import SelinuxKit
import SelinuxNode
import Testing

/// The daemon's SELinux side against the test API server and an in-memory policy store that
/// fails like libsemanage (a module naming an unknown type fails the whole commit). The real
/// store is exercised by SelinuxStoreTests and by the last test here.
@Suite struct SelinuxDaemonTests {
    /// Modules by name; every commit recorded; commits can be held to watch `InProgress`.
    final class FakeStore: SelinuxModules, Sendable {
        let modules = Locked<[String: String]>([:])
        let commits = Locked<[SelinuxModuleChange]>([])
        let held = Locked(false)

        func apply(_ change: SelinuxModuleChange) async throws(SelinuxStoreError) {
            while held.value { try? await Task.sleep(for: .milliseconds(10)) }
            commits.withLock { $0.append(change) }
            if let broken = change.install.first(where: { $0.value.contains("nosuch_t") }) {
                throw SelinuxStoreError(operation: "committing the policy", message: "Failed to resolve nosuch_t in \(broken.key)")
            }
            let inherited = change.remove.first { name in modules.value.values.contains { $0.contains("blockinherit \(name)") } }
            if let inherited { throw SelinuxStoreError(operation: "committing the policy", message: "\(inherited) is inherited") }
            modules.withLock { modules in
                for name in change.remove { modules[name] = nil }
                modules.merge(change.install) { $1 }
            }
        }

        func sources() async throws(SelinuxStoreError) -> [String: String] { modules.value }
    }

    static func run(
        store: any SelinuxModules, allowedSystemProfiles: [String]? = nil, withSeccomp: Bool = false,
        _ body: (NodeProfileHarness) async throws -> Void
    ) async throws {
        let kubelet = FileManager.default.temporaryDirectory.appendingPathComponent("kubelet-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: kubelet) }
        try await NodeProfileHarness.run(prepare: { server in
            if let allowedSystemProfiles {
                var spec = SecurityProfilesOperatorDaemon.Spec()
                spec.selinuxOptions = .init(allowedSystemProfiles: allowedSystemProfiles)
                _ = try server.seed(SecurityProfilesOperatorDaemon(metadata: ObjectMeta(name: "spod", namespace: "security-profiles-operator"), spec: spec))
            }
        }, build: { client, metrics in
            let committer = SelinuxModuleCommitter(modules: store)
            let selinux = NodeProfileDaemon.selinux(
                SelinuxProfile.self, client: client, identity: NodeProfileHarness.identity, committer: committer,
                reflector: NodeProfileHarness.reflector, metricsFactory: metrics)
            let raw = NodeProfileDaemon.selinux(
                RawSelinuxProfile.self, client: client, identity: NodeProfileHarness.identity, committer: committer,
                reflector: NodeProfileHarness.reflector, metricsFactory: metrics)
            var services = selinux.services + raw.services
            var synced: @Sendable () -> Bool = { selinux.hasSynced && raw.hasSynced }
            if withSeccomp {
                let seccomp = SeccompDaemon(
                    client: client, identity: NodeProfileHarness.identity, kubeletDirectory: kubelet,
                    reflector: NodeProfileHarness.reflector, metricsFactory: metrics)
                services += seccomp.services
                synced = { selinux.hasSynced && raw.hasSynced && seccomp.hasSynced }
            }
            return (services, synced)
        }, body)
    }

    @discardableResult
    static func create(_ harness: NodeProfileHarness, _ namespace: String, _ name: String, _ spec: SelinuxProfile.Spec) async throws -> SelinuxProfile {
        try await harness.client.resource(SelinuxProfile.self).create(SelinuxProfile(metadata: ObjectMeta(name: name, namespace: namespace), spec: spec))
    }

    static let readEtc: SelinuxProfile.Spec = .init(allow: ["etc_t": ["file": ["read", "open"]]])
    let saved = ("security_profiles_operator_selinux_profile_total", [("operation", "update")])

    @Test func aProfileIsCommittedWithInProgressThenInstalledOnce() async throws {
        let store = FakeStore()
        store.held.withLock { $0 = true }
        try await Self.run(store: store) { harness in
            try await Self.create(harness, "shop", "nginx", Self.readEtc)
            #expect(await eventually { harness.state("shop", "nginx") == .inProgress }, "while the commit runs")
            store.held.withLock { $0 = false }
            #expect(await eventually { harness.state("shop", "nginx") == .installed })
            let expected = try SelinuxPolicy.cil(for: #require(harness.server.object(SelinuxProfile.self, namespace: "shop", name: "nginx")), allowedSystemProfiles: ["container"]) { _ in false }
            #expect(store.modules.value == ["nginx_shop": expected])
            let profile = try #require(harness.server.object(SelinuxProfile.self, namespace: "shop", name: "nginx"))
            #expect(profile.metadata.finalizers == ["node-1-deleted"])
            #expect(profile.metadata.labels?["spo.x-k8s.io/profile-id"] == "SelinuxProfile-nginx")
            #expect(await eventually { harness.events(reason: "SavedSelinuxPolicy").first?.message == "Successfully saved profile to disk on node-1" })
            #expect(harness.counter(saved.0, saved.1) == 1)

            // Changes that leave the CIL alone commit nothing and report nothing.
            _ = try await harness.client.resource(SelinuxProfile.self).patch("nginx", namespace: "shop", patch: .merge(["metadata": ["labels": ["team": "a"]]]))
            try await Task.sleep(for: .milliseconds(300))
            #expect(store.commits.value.count == 1)
            #expect(harness.counter(saved.0, saved.1) == 1)
            #expect(harness.events(reason: "SavedSelinuxPolicy").first?.count ?? 1 == 1)

            // A change upgrades the module.
            _ = try await harness.client.resource(SelinuxProfile.self).patch("nginx", namespace: "shop", patch: .merge(["spec": ["permissive": true]]))
            #expect(await eventually { store.modules.value["nginx_shop"]?.contains("typepermissive") == true })
            #expect(await eventually { harness.counter(saved.0, saved.1) == 2 })
        }
    }

    @Test func profilesCreatedTogetherShareCommitsAndABrokenOneFailsAlone() async throws {
        let store = FakeStore()
        store.held.withLock { $0 = true }
        try await Self.run(store: store) { harness in
            for index in 0..<10 { try await Self.create(harness, "shop", "p\(index)", Self.readEtc) }
            _ = try await harness.client.resource(RawSelinuxProfile.self).create(RawSelinuxProfile(
                metadata: ObjectMeta(name: "broken", namespace: "shop"), spec: .init(policy: "(allow nosuch_t etc_t (file (read)))")))
            #expect(await eventually { (0..<10).allSatisfy { harness.state("shop", "p\($0)") == .inProgress } && harness.state("shop", "broken") == .inProgress })
            store.held.withLock { $0 = false }
            #expect(await eventually { (0..<10).allSatisfy { harness.state("shop", "p\($0)") == .installed } })
            #expect(await eventually { harness.state("shop", "broken") == .error })
            #expect(harness.message("shop", "broken") == "Failed to save profile to disk on node-1: committing the policy: Failed to resolve nosuch_t in broken_shop")
            #expect(store.modules.value.count == 10 && store.modules.value["broken_shop"] == nil)
            // The first commit (held) has one module, the next batches the rest; the failed
            // batch is split in halves until the broken module fails alone.
            let sizes = store.commits.value.map(\.install.count)
            #expect(sizes.count <= 9 && sizes.max() ?? 0 >= 8, "commits of \(sizes) modules for 11 profiles")
            #expect(harness.counter("security_profiles_operator_selinux_profile_error_total", [("reason", "CannotSaveSelinuxPolicy")]) == 1)
            #expect(harness.counter(saved.0, saved.1) == 10)
        }
    }

    @Test func rawProfilesAreWrappedAndRemovedWhenDisabled() async throws {
        let store = FakeStore()
        try await Self.run(store: store) { harness in
            let policy = #"(allow process var_log_t (file (append))) ; a "quoted" <comment> & more"#
            _ = try await harness.client.resource(RawSelinuxProfile.self).create(RawSelinuxProfile(
                metadata: ObjectMeta(name: "logger", namespace: "shop"), spec: .init(policy: policy)))
            #expect(await eventually { harness.state("shop", "logger") == .installed })
            #expect(store.modules.value["logger_shop"] == "(block logger_shop\n    \(policy)\n)\n", "verbatim, no HTML escaping")
            _ = try await harness.client.resource(RawSelinuxProfile.self).patch("logger", namespace: "shop", patch: .merge(["spec": ["disabled": true]]))
            #expect(await eventually { harness.state("shop", "logger") == .disabled })
            #expect(store.modules.value.isEmpty)
            #expect(harness.counter("security_profiles_operator_selinux_profile_total", [("operation", "delete")]) == 1)
        }
    }

    @Test func systemInheritsFollowTheSpodAllowList() async throws {
        let store = FakeStore()
        try await Self.run(store: store, allowedSystemProfiles: ["container"]) { harness in
            try await Self.create(harness, "shop", "net", .init(inherit: [.init(kind: .system, name: "net_container")], allow: ["etc_t": ["file": ["read"]]]))
            #expect(await eventually { harness.state("shop", "net") == .error })
            #expect(harness.message("shop", "net")?.hasPrefix("Profile failed validation on node-1: ") == true)
            #expect(harness.message("shop", "net")?.contains("system profile net_container not in SecurityProfilesOperatorDaemon's allow list") == true)
            #expect(store.commits.value.isEmpty)
            _ = try await harness.client.resource(SecurityProfilesOperatorDaemon.self).patch(
                "spod", namespace: "security-profiles-operator", patch: .merge(["spec": ["selinuxOptions": ["allowedSystemProfiles": ["container", "net_container"]]]]))
            #expect(await eventually { harness.state("shop", "net") == .installed })
            #expect(store.modules.value["net_shop"]?.contains("(blockinherit net_container)") == true)
        }
    }

    @Test func aChildWaitsForItsParentProfile() async throws {
        let store = FakeStore()
        try await Self.run(store: store) { harness in
            try await Self.create(harness, "shop", "child", .init(inherit: [.init(kind: .selinuxProfile, name: "parent")], allow: ["etc_t": ["file": ["read"]]]))
            #expect(await eventually { harness.state("shop", "child") == .error })
            #expect(harness.message("shop", "child")?.contains("parent") == true)
            try await Self.create(harness, "shop", "parent", Self.readEtc)
            #expect(await eventually { harness.state("shop", "parent") == .installed && harness.state("shop", "child") == .installed })
            #expect(store.modules.value["child_shop"]?.contains("(blockinherit parent_shop)") == true)

            // The parent cannot go while the child inherits from it; it goes with the child.
            try await harness.client.resource(SelinuxProfile.self).delete("parent", namespace: "shop")
            #expect(await eventually { harness.events(reason: "CannotRemoveSelinuxPolicy").first?.message == "Failed to remove policy from node-1: committing the policy: parent_shop is inherited" })
            #expect(harness.state("shop", "parent") == .terminating && store.modules.value["parent_shop"] != nil)
            try await harness.client.resource(SelinuxProfile.self).delete("child", namespace: "shop")
            #expect(await eventually { store.modules.value.isEmpty })
            #expect(await eventually { harness.server.object(SelinuxProfile.self, namespace: "shop", name: "parent") == nil })
        }
    }

    @Test func deletionWaitsForPodsThenRemovesTheModule() async throws {
        let store = FakeStore()
        try await Self.run(store: store) { harness in
            try await Self.create(harness, "shop", "nginx", Self.readEtc)
            #expect(await eventually { harness.state("shop", "nginx") == .installed })
            try harness.setInUse(SelinuxProfile.self, "shop", "nginx", true)
            try await harness.client.resource(SelinuxProfile.self).delete("nginx", namespace: "shop")
            #expect(await eventually { harness.state("shop", "nginx") == .terminating })
            try await Task.sleep(for: .milliseconds(200))
            #expect(store.modules.value["nginx_shop"] != nil, "pods still run with the type: the module stays")
            try harness.setInUse(SelinuxProfile.self, "shop", "nginx", false)
            #expect(await eventually { harness.server.object(SelinuxProfile.self, namespace: "shop", name: "nginx") == nil })
            #expect(store.modules.value.isEmpty)
            #expect(harness.nodeStatus("shop", "nginx") == nil)
            #expect(harness.counter("security_profiles_operator_selinux_profile_total", [("operation", "delete")]) == 1)
        }
    }

    @Test func injectionThroughNamesAndLabelsIsRefused() async throws {
        let store = FakeStore()
        try await Self.run(store: store) { harness in
            try await Self.create(harness, "shop", "evil", .init(allow: ["etc_t) (allow process shadow_t": ["file": ["read"]]]))
            _ = try await harness.client.resource(RawSelinuxProfile.self).create(RawSelinuxProfile(
                metadata: ObjectMeta(name: "escape", namespace: "shop"), spec: .init(policy: ")\n(allow process shadow_t (file (read)))\n(")))
            #expect(await eventually { harness.state("shop", "evil") == .error && harness.state("shop", "escape") == .error })
            #expect(harness.message("shop", "evil")?.hasPrefix("Profile failed validation on node-1: ") == true)
            #expect(harness.message("shop", "escape")?.hasPrefix("Profile failed validation on node-1: ") == true)
            #expect(store.commits.value.isEmpty)
        }
    }

    @Test func hugePoliciesAreTranslatedAndInstalled() async throws {
        let store = FakeStore()
        try await Self.run(store: store) { harness in
            let labels = Dictionary(uniqueKeysWithValues: (0..<5_000).map { ("type\($0)_t", ["file": ["read", "open", "getattr"]]) })
            try await Self.create(harness, "shop", "huge", .init(allow: labels))
            let rules = (0..<20_000).map { "(allow process type\($0)_t (file (read)))" }.joined(separator: "\n")
            _ = try await harness.client.resource(RawSelinuxProfile.self).create(RawSelinuxProfile(
                metadata: ObjectMeta(name: "hugeraw", namespace: "shop"), spec: .init(policy: rules)))
            #expect(await eventually { harness.state("shop", "huge") == .installed && harness.state("shop", "hugeraw") == .installed })
            #expect(store.modules.value["huge_shop"]?.components(separatedBy: "(allow ").count == 5_001)
            #expect(store.modules.value["hugeraw_shop"]?.components(separatedBy: "\n").count == 20_003, "the block line, the rules, the closing line")
        }
    }

    /// A node without a policy store: a clear error on each profile, retried; deletion is not
    /// held; seccomp unaffected.
    @Test func aNodeWithoutAStoreSaysSoAndOtherKindsAreUnaffected() async throws {
        try await Self.run(store: SelinuxModuleStore(root: "/nonexistent-root"), withSeccomp: true) { harness in
            try await Self.create(harness, "shop", "nginx", Self.readEtc)
            _ = try await harness.client.resource(SeccompProfile.self).create(
                SeccompProfile(metadata: ObjectMeta(name: "log", namespace: "shop"), spec: .init(defaultAction: .log)))
            #expect(await eventually { harness.state("shop", "nginx") == .error })
            #expect(harness.message("shop", "nginx")?.hasPrefix("Cannot read the policy store on node-1: opening the policy store: no SELinux policy store \"default\" under /nonexistent-root") == true)
            #expect(await eventually { harness.state("shop", "log") == .installed })
            #expect(harness.counter("security_profiles_operator_selinux_profile_error_total", [("reason", "CannotGetPolicyStatus")]) == 1)

            // Nothing was installed, so nothing holds its deletion.
            try await harness.client.resource(SelinuxProfile.self).delete("nginx", namespace: "shop")
            #expect(await eventually { harness.server.object(SelinuxProfile.self, namespace: "shop", name: "nginx") == nil })
        }
    }

    /// The whole chain on a real policy store (the process's copy of Debian's
    /// selinux-policy-default, shared with SelinuxStoreTests, whose modules are apart): both
    /// kinds land in libsemanage commits and the rebuilt policy holds the profile's type.
    @Test func profilesLandInARealPolicyStore() async throws {
        let root = try #require(SelinuxTestStore.root, "make test installs selinux-policy-default")
        let store = SelinuxModuleStore(root: root)
        try await store.apply(SelinuxModuleChange(install: ["container": SelinuxTestStore.containerStub]))

        try await Self.run(store: store) { harness in
            try await Self.create(harness, "shop", "nginx", .init(allow: ["etc_t": ["file": ["read", "open"]], "@self": ["process": ["signal"]]]))
            _ = try await harness.client.resource(RawSelinuxProfile.self).create(RawSelinuxProfile(
                metadata: ObjectMeta(name: "logger", namespace: "shop"),
                spec: .init(policy: "(type logger_t)\n(roletype system_r logger_t)\n(allow logger_t var_log_t (file (append)))")))
            #expect(await eventually(timeout: .seconds(120)) { harness.state("shop", "nginx") == .installed && harness.state("shop", "logger") == .installed })
            let sources = try await store.sources()
            #expect(sources["logger_shop"] != nil)
            #expect(sources["nginx_shop"]?.contains("(allow process nginx_shop.process (process (signal)))") == true)
            let policy = try Data(contentsOf: URL(fileURLWithPath: "\(root)/etc/selinux/default/policy/policy.33"))
            #expect(policy.range(of: Data("nginx_shop.process".utf8)) != nil)
        }
    }
}
