import AppArmorNode
import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import SPOAPI
import SPODaemon
import Testing

/// The daemon's AppArmor side against the test API server: profiles really compiled with
/// apparmor_parser, handed to a fake kernel (this machine has no AppArmor), and this kernel's
/// real "not supported" path.
@Suite struct AppArmorDaemonTests {
    static let features = "/usr/share/apparmor-features/features"

    /// What reached the kernel, in order.
    final class FakeKernel: AppArmorKernel, Sendable {
        let calls = Locked<[String]>([])
        let loaded = Locked<Set<String>>([])

        func unsupportedReason() -> String? { nil }

        func replace(_ name: String, compiled: [UInt8]) throws(AppArmorError) {
            #expect(Array(compiled.prefix(4)) == [0x04, 0x08, 0x00, 0x76], "binary policy from apparmor_parser")
            calls.withLock { $0.append("replace \(name)") }
            loaded.withLock { _ = $0.insert(name) }
        }

        func remove(_ name: String) throws(AppArmorError) {
            calls.withLock { $0.append("remove \(name)") }
            guard loaded.withLock({ $0.remove(name) }) != nil else { throw AppArmorError(.notLoaded, "not loaded") }
        }
    }

    static func run(kernel: any AppArmorKernel, withSeccomp: Bool = false, _ body: (NodeProfileHarness) async throws -> Void) async throws {
        try #require(FileManager.default.fileExists(atPath: features), "make test installs apparmor")
        let kubelet = FileManager.default.temporaryDirectory.appendingPathComponent("kubelet-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: kubelet) }
        try await NodeProfileHarness.run(build: { client, metrics in
            let appArmor = NodeProfileDaemon.appArmor(
                client: client, identity: NodeProfileHarness.identity, loader: AppArmorLoader(kernel: kernel, featuresFile: features),
                reflector: NodeProfileHarness.reflector, metricsFactory: metrics)
            guard withSeccomp else { return (appArmor.services, { appArmor.hasSynced }) }
            let seccomp = SeccompDaemon(
                client: client, identity: NodeProfileHarness.identity, kubeletDirectory: kubelet,
                reflector: NodeProfileHarness.reflector, metricsFactory: metrics)
            return (appArmor.services + seccomp.services, { appArmor.hasSynced && seccomp.hasSynced })
        }, body)
    }

    static func policy(_ name: String, _ rule: String = "/etc/** r,") -> String {
        "#include <tunables/global>\nprofile \(name) flags=(attach_disconnected) {\n  #include <abstractions/base>\n  \(rule)\n}\n"
    }

    @discardableResult
    static func create(_ harness: NodeProfileHarness, _ namespace: String, _ name: String, _ spec: AppArmorProfile.Spec) async throws -> AppArmorProfile {
        try await harness.client.resource(AppArmorProfile.self).create(AppArmorProfile(metadata: ObjectMeta(name: name, namespace: namespace), spec: spec))
    }

    let loadedTotal = ("security_profiles_operator_apparmor_profile_total", [("operation", "update")])

    @Test func aProfileIsLoadedOnceAndReplacedOnChange() async throws {
        let kernel = FakeKernel()
        try await Self.run(kernel: kernel) { harness in
            try await Self.create(harness, "apps", "web", .init(policy: Self.policy("web")))
            #expect(await eventually { harness.state("apps", "web") == .installed })
            #expect(kernel.calls.value == ["replace web"])
            let profile = try #require(harness.server.object(AppArmorProfile.self, namespace: "apps", name: "web"))
            #expect(profile.metadata.finalizers == ["node-1-deleted"])
            #expect(profile.metadata.labels?["spo.x-k8s.io/profile-id"] == "AppArmorProfile-web")
            #expect(harness.nodeStatus("apps", "web")?.metadata.labels?["spo.x-k8s.io/profile-kind"] == "AppArmorProfile")
            #expect(await eventually { harness.events(reason: "LoadedAppArmorProfile").first?.message == "Successfully loaded profile into the kernel on node-1" })
            #expect(harness.counter(loadedTotal.0, loadedTotal.1) == 1)

            // A change that leaves the text alone reaches nothing.
            _ = try await harness.client.resource(AppArmorProfile.self).patch("web", namespace: "apps", patch: .merge(["metadata": ["labels": ["team": "a"]]]))
            try await Task.sleep(for: .milliseconds(300))
            #expect(kernel.calls.value == ["replace web"])
            #expect(harness.counter(loadedTotal.0, loadedTotal.1) == 1)

            _ = try await harness.client.resource(AppArmorProfile.self).patch("web", namespace: "apps", patch: .merge(["spec": ["policy": .string(Self.policy("web", "/srv/** r,"))]]))
            #expect(await eventually { kernel.calls.value == ["replace web", "replace web"] })
            #expect(await eventually { harness.counter(loadedTotal.0, loadedTotal.1) == 2 })
        }
    }

    @Test func abstractRulesAreTranslatedAndLoaded() async throws {
        let kernel = FakeKernel()
        try await Self.run(kernel: kernel) { harness in
            try await Self.create(harness, "apps", "abstract", .init(abstract: .init(
                executable: .init(allowedExecutables: ["/usr/bin/nginx"]),
                filesystem: .init(readOnlyPaths: ["/etc/nginx/**"], readWritePaths: ["/var/log/nginx/**"]),
                network: .init(allowedProtocols: .init(allowTcp: true)),
                capability: .init(allowedCapabilities: ["net_bind_service"]))))
            #expect(await eventually { harness.state("apps", "abstract") == .installed })
            #expect(kernel.calls.value == ["replace abstract"])
        }
    }

    @Test func badTextIsAnErrorReportedOnceAndThePreviousVersionStays() async throws {
        let kernel = FakeKernel()
        let errors = ("security_profiles_operator_apparmor_profile_error_total", [("reason", "CannotLoadAppArmorProfile")])
        try await Self.run(kernel: kernel) { harness in
            // The text defines another name: upstream's message, nothing reaches the kernel.
            try await Self.create(harness, "apps", "other", .init(policy: Self.policy("something-else")))
            #expect(await eventually { harness.state("apps", "other") == .error })
            #expect(harness.message("apps", "other")?.hasPrefix("policy \"other\" is not loaded: AppArmorProfile name must match defined policy") == true)
            #expect(await eventually { harness.events(reason: "CannotLoadAppArmorProfile").count == 1 })
            #expect(harness.counter(errors.0, errors.1) == 1)
            _ = try await harness.client.resource(AppArmorProfile.self).patch("other", namespace: "apps", patch: .merge(["metadata": ["labels": ["touch": "1"]]]))
            try await Task.sleep(for: .milliseconds(300))
            #expect(harness.counter(errors.0, errors.1) == 1, "the same problem is not reported again")
            #expect(harness.events(reason: "CannotLoadAppArmorProfile").first?.count ?? 1 == 1)
            #expect(kernel.calls.value.isEmpty)

            // A loaded profile whose new text does not compile keeps its loaded version.
            try await Self.create(harness, "apps", "web", .init(policy: Self.policy("web")))
            #expect(await eventually { harness.state("apps", "web") == .installed })
            _ = try await harness.client.resource(AppArmorProfile.self).patch("web", namespace: "apps", patch: .merge(["spec": ["policy": "profile web { /etc/** rx-bogus, }"]]))
            #expect(await eventually { harness.state("apps", "web") == .error })
            #expect(harness.message("apps", "web") == "AppArmor parser error for web in profile web at line 1: syntax error, unexpected TOK_ID, expecting TOK_MODE")
            #expect(kernel.calls.value == ["replace web"], "no removal: running containers stay confined")
        }
    }

    @Test func injectionThroughAbstractPathsIsRefused() async throws {
        let kernel = FakeKernel()
        try await Self.run(kernel: kernel) { harness in
            try await Self.create(harness, "apps", "abstract", .init(abstract: .init(filesystem: .init(readOnlyPaths: ["/etc/x\" rw,\n  /** rwx,\n#"]))))
            #expect(await eventually { harness.state("apps", "abstract") == .error })
            #expect(harness.message("apps", "abstract")?.contains("spec.abstract.filesystem.readOnlyPaths[0]: Invalid value") == true)
            #expect(kernel.calls.value.isEmpty)
        }
    }

    @Test func aHugePolicyCompilesAndLoads() async throws {
        let kernel = FakeKernel()
        try await Self.run(kernel: kernel) { harness in
            let rules = (0..<5_000).map { "/srv/data/dir\($0)/** r," }.joined(separator: "\n  ")
            try await Self.create(harness, "apps", "big", .init(policy: Self.policy("big", rules)))
            #expect(await eventually { harness.state("apps", "big") == .installed })
            #expect(kernel.calls.value == ["replace big"])
        }
    }

    @Test func profileNamesAreNodeWideSoTheOlderObjectOwnsAName() async throws {
        let kernel = FakeKernel()
        try await Self.run(kernel: kernel) { harness in
            try await Self.create(harness, "team-a", "same", .init(policy: Self.policy("same")))
            #expect(await eventually { harness.state("team-a", "same") == .installed })
            try await Task.sleep(for: .seconds(1.1))  // creation timestamps have second precision
            try await Self.create(harness, "team-b", "same", .init(policy: Self.policy("same", "/srv/** rw,")))
            #expect(await eventually { harness.state("team-b", "same") == .error })
            #expect(harness.message("team-b", "same") == "AppArmor profile same is already loaded from AppArmorProfile team-a/same: profile names are node-wide")
            #expect(kernel.calls.value == ["replace same"], "team-b did not replace team-a's profile")

            // When the owner goes, the other one takes the name.
            try await harness.client.resource(AppArmorProfile.self).delete("same", namespace: "team-a")
            #expect(await eventually { harness.state("team-b", "same") == .installed })
            #expect(kernel.calls.value == ["replace same", "remove same", "replace same"])
        }
    }

    @Test func deletionWaitsForPodsThenUnloads() async throws {
        let kernel = FakeKernel()
        try await Self.run(kernel: kernel) { harness in
            try await Self.create(harness, "apps", "web", .init(policy: Self.policy("web")))
            #expect(await eventually { harness.state("apps", "web") == .installed })
            try harness.setInUse(AppArmorProfile.self, "apps", "web", true)
            try await harness.client.resource(AppArmorProfile.self).delete("web", namespace: "apps")
            #expect(await eventually { harness.state("apps", "web") == .terminating })
            try await Task.sleep(for: .milliseconds(200))
            #expect(kernel.calls.value == ["replace web"], "kept while pods use it")
            try harness.setInUse(AppArmorProfile.self, "apps", "web", false)
            #expect(await eventually { harness.server.object(AppArmorProfile.self, namespace: "apps", name: "web") == nil })
            #expect(kernel.calls.value == ["replace web", "remove web"])
            #expect(harness.nodeStatus("apps", "web") == nil)
            #expect(harness.counter("security_profiles_operator_apparmor_profile_total", [("operation", "delete")]) == 1)
        }
    }

    @Test func disablingUnloadsAndEnablingLoadsAgain() async throws {
        let kernel = FakeKernel()
        try await Self.run(kernel: kernel) { harness in
            try await Self.create(harness, "apps", "web", .init(policy: Self.policy("web")))
            #expect(await eventually { harness.state("apps", "web") == .installed })
            _ = try await harness.client.resource(AppArmorProfile.self).patch("web", namespace: "apps", patch: .merge(["spec": ["disabled": true]]))
            #expect(await eventually { harness.state("apps", "web") == .disabled })
            #expect(kernel.calls.value == ["replace web", "remove web"])
            _ = try await harness.client.resource(AppArmorProfile.self).patch("web", namespace: "apps", patch: .merge(["spec": ["disabled": false]]))
            #expect(await eventually { harness.state("apps", "web") == .installed })
            #expect(kernel.calls.value == ["replace web", "remove web", "replace web"])
        }
    }

    /// This machine's kernel has no AppArmor: every profile says so once, nothing crashes,
    /// seccomp profiles are installed as usual.
    @Test func aNodeWithoutAppArmorReportsItAndOtherKindsAreUnaffected() async throws {
        try await Self.run(kernel: LibAppArmorKernel(), withSeccomp: true) { harness in
            try await Self.create(harness, "apps", "web", .init(policy: Self.policy("web")))
            _ = try await harness.client.resource(SeccompProfile.self).create(
                SeccompProfile(metadata: ObjectMeta(name: "log", namespace: "apps"), spec: .init(defaultAction: .log)))
            #expect(await eventually { harness.state("apps", "web") == .error })
            #expect(harness.message("apps", "web") == "AppArmor not supported on node")
            #expect(await eventually { harness.events(reason: "AppArmorNotSupportedOnNode").first?.message == "AppArmor not supported on node" })
            #expect(harness.counter("security_profiles_operator_apparmor_profile_error_total", [("reason", "AppArmorNotSupportedOnNode")]) == 1)
            #expect(await eventually { harness.state("apps", "log") == .installed })

            // Deleting it works without a kernel to unload from.
            try await harness.client.resource(AppArmorProfile.self).delete("web", namespace: "apps")
            #expect(await eventually { harness.server.object(AppArmorProfile.self, namespace: "apps", name: "web") == nil })
        }
    }
}
