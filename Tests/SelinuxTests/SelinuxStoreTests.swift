import Foundation
import KubeModels
import KubeTestServer
import SPOAPI
import SelinuxKit
import SelinuxNode
import Testing

/// Real installs into a copy of Debian's selinux-policy-default store through libsemanage
/// (this kernel has SELinux off, so only the store changes). Each commit rebuilds the whole
/// policy (~8 s here), so the test makes three.
@Suite(.serialized)
struct SelinuxStoreTests {
    static let systemStore = "/var/lib/selinux/default"

    /// A `container` base block like udica's template provides on Fedora (Debian has none).
    static let containerStub = """
        (block container
            (type process)
            (roletype system_r process)
            (typeattributeset domain (process))
        )

        """

    /// A test root holding a copy of the system store.
    func copyStore() throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("selinux-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: "\(root)/var/lib/selinux", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.systemStore, toPath: "\(root)/var/lib/selinux/default")
        return root
    }

    @Test func generatedModulesInstallFailOnBrokenPolicyAndRemove() async throws {
        try #require(FileManager.default.fileExists(atPath: Self.systemStore), "make test installs selinux-policy-default")
        let root = try copyStore()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = SelinuxModuleStore(root: root)
        #expect(try await store.sources().isEmpty, "the system policy's modules are at priority 100")

        let profile = SelinuxProfile(metadata: ObjectMeta(name: "nginx", namespace: "shop"), spec: .init(allow: [
            "etc_t": ["file": ["read", "open", "getattr"]],
            "@self": ["process": ["signal"]],
        ]))
        let profileCIL = try SelinuxPolicy.cil(for: profile, allowedSystemProfiles: ["container"]) { _ in false }
        let raw = RawSelinuxProfile(metadata: ObjectMeta(name: "raw", namespace: "shop"), spec: .init(policy: "(type logger_t)\n(roletype system_r logger_t)\n(allow logger_t var_log_t (file (append)))"))
        try await store.apply(SelinuxModuleChange(install: [
            "container": Self.containerStub,
            SelinuxPolicy.moduleName(name: "nginx", namespace: "shop"): profileCIL,
            SelinuxPolicy.moduleName(name: "raw", namespace: "shop"): try SelinuxPolicy.cil(for: raw),
        ]))
        let installed = try await store.sources()
        #expect(installed == ["container": Self.containerStub, "nginx_shop": profileCIL, "raw_shop": try SelinuxPolicy.cil(for: raw)],
                "each module reads back exactly as installed")
        // The rebuilt policy the commit wrote contains the profile's process type.
        let policy = try Data(contentsOf: URL(fileURLWithPath: "\(root)/etc/selinux/default/policy/policy.33"))
        #expect(policy.range(of: Data("nginx_shop.process".utf8)) != nil)

        // A module that names an unknown type fails at commit, with libsemanage's reason, and
        // the store keeps what it had.
        let broken = RawSelinuxProfile(metadata: ObjectMeta(name: "broken", namespace: "shop"), spec: .init(policy: "(allow nosuch_t etc_t (file (read)))"))
        await #expect {
            try await store.apply(SelinuxModuleChange(install: ["broken_shop": try SelinuxPolicy.cil(for: broken)]))
        } throws: { error in
            let message = "\(error)"
            return message.hasPrefix("committing the policy: ") && message.contains("Failed to resolve")
        }
        #expect(try await store.sources() == installed)

        try await store.apply(SelinuxModuleChange(remove: ["nginx_shop", "raw_shop", "container"]))
        #expect(try await store.sources().isEmpty)
    }

    @Test func aMissingStoreIsAClearError() async throws {
        let store = SelinuxModuleStore(root: "/nonexistent-root")
        await #expect {
            _ = try await store.sources()
        } throws: { error in
            "\(error)".hasPrefix("opening the policy store: no SELinux policy store \"default\" under /nonexistent-root")
        }
    }
}
