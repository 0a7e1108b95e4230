import Foundation
import SPOAPI
import SPODaemon
import ServiceLifecycle
import ServiceLifecycleTestKit
import KubeTestServer
import Testing

@Suite struct StandaloneTests {
    struct Fixture {
        let manifests: URL
        let kubelet: String
        let daemon: StandaloneSeccompDaemon

        init(builtIns: [String: SeccompProfile.Spec] = [:]) throws {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("standalone-\(UUID().uuidString)")
            manifests = root.appendingPathComponent("manifests")
            kubelet = root.appendingPathComponent("kubelet").path
            try FileManager.default.createDirectory(at: manifests, withIntermediateDirectories: true)
            daemon = StandaloneSeccompDaemon(
                manifests: manifests, directory: SeccompProfileDirectory(kubeletDirectory: kubelet),
                builtInProfiles: builtIns, pollInterval: .milliseconds(20))
        }

        func write(_ name: String, _ yaml: String) throws {
            try yaml.write(to: manifests.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }

        func file(_ namespace: String, _ name: String) -> String? {
            FileManager.default.contents(atPath: "\(kubelet)/seccomp/operator/\(namespace)/\(name).json").map { String(decoding: $0, as: UTF8.self) }
        }

        func cleanUp() { try? FileManager.default.removeItem(at: manifests.deletingLastPathComponent()) }
    }

    static func profile(_ name: String, _ spec: String, namespace: String? = nil) -> String {
        """
        apiVersion: security-profiles-operator.x-k8s.io/v1beta1
        kind: SeccompProfile
        metadata: {name: \(name)\(namespace.map { ", namespace: \($0)" } ?? "")}
        spec: \(spec)

        """
    }

    @Test func installsValidProfilesAndReportsTheRest() throws {
        let fixture = try Fixture(builtIns: ["runc-v1.0.0": .init(defaultAction: .errno, syscalls: [.init(names: ["execve"], action: .allow)])])
        defer { fixture.cleanUp() }
        try fixture.write("profiles.yaml", [
            Self.profile("log", "{defaultAction: SCMP_ACT_LOG}"),
            Self.profile("based", "{defaultAction: SCMP_ACT_ERRNO, baseProfileName: runc-v1.0.0}", namespace: "apps"),
            Self.profile("typo", "{defaultAction: SCMP_ACT_ERRNO, syscalls: [{action: SCMP_ACT_ALLOW, names: [mkdirr]}]}"),
            Self.profile("paused", "{defaultAction: SCMP_ACT_LOG, disabled: true}"),
            // YAML 1.1 reads an unquoted `off` as false: that document is reported, the others still apply.
            Self.profile("off", "{defaultAction: SCMP_ACT_LOG}"),
        ].joined(separator: "---\n"))
        try fixture.write("broken.yaml", "kind: SeccompProfile\nspec: [not, an, object]\n")
        let outcomes = fixture.daemon.syncOnce()
        #expect(outcomes.contains(.installed(namespace: "default", name: "log", changed: true)), "no namespace means default")
        #expect(outcomes.contains(.installed(namespace: "apps", name: "based", changed: true)))
        #expect(outcomes.contains(.disabled(namespace: "default", name: "paused")))
        #expect(outcomes.contains { if case .unreadable(let file, let message) = $0 { file.hasSuffix("profiles.yaml (document 5)") && message.contains("metadata.name") } else { false } })
        #expect(outcomes.contains { if case .rejected("default", "typo", let problem) = $0 { problem.message.contains("mkdirr") } else { false } })
        #expect(outcomes.contains { if case .unreadable(let file, _) = $0 { file.hasSuffix("broken.yaml") } else { false } })
        #expect(fixture.file("default", "log") == #"{"defaultAction":"SCMP_ACT_LOG"}"#)
        #expect(fixture.file("apps", "based")?.contains("execve") == true)
        #expect(fixture.file("default", "typo") == nil)
        #expect(fixture.daemon.syncOnce().contains(.installed(namespace: "default", name: "log", changed: false)), "no rewrite without change")
    }

    @Test func aSpodInTheManifestsGuardsProfiles() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try fixture.write("spod.yaml", """
            apiVersion: security-profiles-operator.x-k8s.io/v1alpha1
            kind: SecurityProfilesOperatorDaemon
            metadata: {name: spod, namespace: security-profiles-operator}
            spec: {allowedSyscalls: [exit_group]}
            """)
        try fixture.write("p.yaml", Self.profile("wide", "{defaultAction: SCMP_ACT_ERRNO, syscalls: [{action: SCMP_ACT_ALLOW, names: [exit_group, read]}]}"))
        let outcomes = fixture.daemon.syncOnce()
        #expect(outcomes == [.rejected(namespace: "default", name: "wide", problem: .init(reason: .notAllowed, message: "syscall not allowed: read"))])
    }

    @Test func watchesTheDirectoryAndStopsOnGracefulShutdown() async throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try fixture.write("p.yaml", Self.profile("p", "{defaultAction: SCMP_ACT_LOG}"))
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await fixture.daemon.run() }
                #expect(await eventually { fixture.file("default", "p") != nil })
                try fixture.write("p.yaml", Self.profile("p", "{defaultAction: SCMP_ACT_ERRNO, syscalls: [{action: SCMP_ACT_ALLOW, names: [read]}]}"))
                #expect(await eventually { fixture.file("default", "p")?.contains("SCMP_ACT_ERRNO") == true })
                try FileManager.default.removeItem(at: fixture.manifests.appendingPathComponent("p.yaml"))
                #expect(await eventually { fixture.file("default", "p") == nil }, "a profile removed from the manifests is removed from disk")
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }
}
