import Foundation
import KubeModels
import KubeTestServer
import SPOAPI
import SelinuxKit
import SelinuxNode
import Testing

/// Real installs into a copy of Debian's selinux-policy-default store through libsemanage
/// (this kernel has SELinux off, so only the store changes). Each commit rebuilds the whole
/// policy (~8 s here), so the test makes three. The store copy is shared with the daemon's
/// real-store test (one libsemanage root per process): this test's modules live in namespace
/// `storetest` and it looks at those only.
@Suite(.serialized)
struct SelinuxStoreTests {
    static func own(_ sources: [String: String]) -> [String: String] { sources.filter { $0.key.hasSuffix("_storetest") } }

    @Test func generatedModulesInstallFailOnBrokenPolicyAndRemove() async throws {
        let root = try #require(SelinuxTestStore.root, "make test installs selinux-policy-default")
        let store = SelinuxModuleStore(root: root)
        #expect(Self.own(try await store.sources()).isEmpty)
        #expect(try await store.sources()["base"] == nil, "the system policy's modules are at priority 100")

        let profile = SelinuxProfile(metadata: ObjectMeta(name: "nginx", namespace: "storetest"), spec: .init(allow: [
            "etc_t": ["file": ["read", "open", "getattr"]],
            "@self": ["process": ["signal"]],
        ]))
        let profileCIL = try SelinuxPolicy.cil(for: profile, allowedSystemProfiles: ["container"]) { _ in false }
        let raw = RawSelinuxProfile(metadata: ObjectMeta(name: "raw", namespace: "storetest"), spec: .init(policy: "(type logger_t)\n(roletype system_r logger_t)\n(allow logger_t var_log_t (file (append)))"))
        try await store.apply(SelinuxModuleChange(install: [
            "container": SelinuxTestStore.containerStub,
            SelinuxPolicy.moduleName(name: "nginx", namespace: "storetest"): profileCIL,
            SelinuxPolicy.moduleName(name: "raw", namespace: "storetest"): try SelinuxPolicy.cil(for: raw),
        ]))
        let sources = try await store.sources()
        #expect(sources["container"] == SelinuxTestStore.containerStub)
        let installed = Self.own(sources)
        #expect(installed == ["nginx_storetest": profileCIL, "raw_storetest": try SelinuxPolicy.cil(for: raw)], "each module reads back exactly as installed")
        // The rebuilt policy the commit wrote contains the profile's process type.
        let policy = try Data(contentsOf: URL(fileURLWithPath: "\(root)/etc/selinux/default/policy/policy.33"))
        #expect(policy.range(of: Data("nginx_storetest.process".utf8)) != nil)

        // A module that names an unknown type fails at commit, with libsemanage's reason, and
        // the store keeps what it had.
        let broken = RawSelinuxProfile(metadata: ObjectMeta(name: "broken", namespace: "storetest"), spec: .init(policy: "(allow nosuch_t etc_t (file (read)))"))
        await #expect {
            try await store.apply(SelinuxModuleChange(install: ["broken_storetest": try SelinuxPolicy.cil(for: broken)]))
        } throws: { error in
            let message = "\(error)"
            return message.hasPrefix("committing the policy: ") && message.contains("Failed to resolve")
        }
        #expect(Self.own(try await store.sources()) == installed)

        try await store.apply(SelinuxModuleChange(remove: ["nginx_storetest", "raw_storetest"]))
        #expect(Self.own(try await store.sources()).isEmpty)
    }

    @Test func aMissingStoreIsAClearError() async throws {
        let store = SelinuxModuleStore(root: "/nonexistent-root")
        await #expect {
            _ = try await store.sources()
        } throws: { error in
            "\(error)" == "opening the policy store: no SELinux policy store \"default\" under /nonexistent-root"
        }
    }

    /// libsemanage keeps the first root's paths for the whole process: a second root is
    /// refused rather than silently given the first one's store.
    @Test func aSecondRootInTheSameProcessIsRefused() async throws {
        let root = try #require(SelinuxTestStore.root, "make test installs selinux-policy-default")
        _ = try await SelinuxModuleStore(root: root).sources()
        let other = FileManager.default.temporaryDirectory.appendingPathComponent("selinux-other-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: "\(other)/var/lib/selinux/default", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: other) }
        await #expect {
            _ = try await SelinuxModuleStore(root: other).sources()
        } throws: { error in
            "\(error)" == "opening the policy store: this process already uses the policy root \(root); libsemanage keeps one root per process"
        }
    }
}
