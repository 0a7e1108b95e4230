import AppArmorKit
import Foundation
import KubeModels
import KubeTestServer
import SPOAPI
import Testing
import Yams

/// AppArmorProfile's abstract rules: validation, the translation to profile text (golden), and
/// the text compiled by this machine's apparmor_parser against the shipped features file.
struct AppArmorProfileTests {
    static let features = "/usr/share/apparmor-features/features"

    let full = AppArmorProfile.Abstract(
        executable: .init(allowedExecutables: ["/usr/bin/nginx", "/bin/sh"], allowedLibraries: ["/usr/lib/x86_64-linux-gnu/**"]),
        filesystem: .init(readOnlyPaths: ["/etc/nginx/**", "/etc/nginx/**"], writeOnlyPaths: ["/var/log/nginx/*.log"], readWritePaths: ["/var/cache/nginx/{client,proxy}_temp/**"]),
        network: .init(allowRaw: true, allowedProtocols: .init(allowTcp: true, allowUdp: true)),
        capability: .init(allowedCapabilities: ["setuid", "net_bind_service", "setgid"]))

    func profile(_ name: String, _ spec: AppArmorProfile.Spec) -> AppArmorProfile {
        AppArmorProfile(metadata: ObjectMeta(name: name, namespace: "default"), spec: spec)
    }

    @Test func abstractRulesBecomeAStableProfile() {
        #expect(AppArmorProfileText.render(full, name: "nginx") == """
            #include <tunables/global>

            profile nginx flags=(attach_disconnected,mediate_deleted) {
              #include <abstractions/base>

              # Executables (run under this profile)
              "/bin/sh" ix,
              "/usr/bin/nginx" ix,

              # Libraries
              "/usr/lib/x86_64-linux-gnu/**" mr,

              # Read-only paths
              "/etc/nginx/**" r,

              # Write-only paths
              "/var/log/nginx/*.log" w,

              # Read-write paths
              "/var/cache/nginx/{client,proxy}_temp/**" rw,

              # Network
              network raw,
              network inet tcp,
              network inet6 tcp,
              network inet udp,
              network inet6 udp,

              # Capabilities
              capability net_bind_service,
              capability setgid,
              capability setuid,
            }

            """)
        #expect(AppArmorProfileText.render(.init(), name: "nothing") == """
            #include <tunables/global>

            profile nothing flags=(attach_disconnected,mediate_deleted) {
              #include <abstractions/base>
            }

            """)
    }

    @Test func policyTextIsUsedAsGivenAndAbstractIsTranslated() {
        #expect(AppArmorProfileText.text(for: profile("p", .init(policy: "profile p {}\n"))) == "profile p {}\n")
        #expect(AppArmorProfileText.text(for: profile("a", .init(abstract: full)))?.contains("profile a flags=") == true)
    }

    @Test func validationWantsExactlyOneOfPolicyAndAbstract() {
        var both = AppArmorProfile.Spec(policy: "profile x {}")
        both.abstract = .init()
        #expect(profile("x", both).validate().map(\.description) == ["spec.abstract: Invalid value: policy and abstract are exclusive"])
        var neither = AppArmorProfile.Spec(policy: "")
        neither.policy = nil
        #expect(profile("x", neither).validate().map(\.description) == ["spec.policy: Required value: set policy or abstract"])
        #expect(profile("x", .init(abstract: full)).validate() == [])
    }

    @Test func pathsAndCapabilitiesThatCouldBreakTheTextAreRefused() {
        let hostile = AppArmorProfile.Abstract(
            executable: .init(allowedExecutables: ["bin/relative"]),
            filesystem: .init(
                readOnlyPaths: ["/ok/**", "/x\" rwx,\n  /** rwx"], writeOnlyPaths: ["/a\\b"],
                readWritePaths: ["/" + String(repeating: "a", count: 5000)]),
            capability: .init(allowedCapabilities: ["CAP_SYS_ADMIN", "net_admin"]))
        let problems = profile("x", .init(abstract: hostile)).validate().map { "\($0.field): \($0.detail)" }
        #expect(problems == [
            "spec.abstract.executable.allowedExecutables[0]: must be absolute (or start with an AppArmor variable)",
            "spec.abstract.filesystem.readOnlyPaths[1]: must not contain quotes, backslashes or control characters",
            "spec.abstract.filesystem.writeOnlyPaths[0]: must not contain quotes, backslashes or control characters",
            "spec.abstract.filesystem.readWritePaths[0]: longer than 4096 bytes",
            "spec.abstract.capability.allowedCapabilities[0]: not a Linux capability (lower case, without CAP_)",
        ], "\(problems)")
        // A name that would inject text is not a valid object name in the first place.
        #expect(!profile("x {} profile evil", .init(abstract: .init())).validate().isEmpty)
    }

    /// `apparmor_parser -Q -K` compiles without loading (this kernel has no AppArmor).
    func compile(_ text: String) async throws -> ChildProcess.Result {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("aa-\(UUID().uuidString)")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        return try await ChildProcess.run("/usr/sbin/apparmor_parser", ["-Q", "-K", "-M", Self.features, file.path])
    }

    @Test func translatedProfilesCompileWithApparmorParser() async throws {
        try #require(FileManager.default.fileExists(atPath: Self.features), "make test installs apparmor")
        for (name, abstract) in [("nginx", full), ("nothing", AppArmorProfile.Abstract()), ("web.shop-1", .init(network: .init(allowedProtocols: .init(allowTcp: true))))] {
            let result = try await compile(AppArmorProfileText.render(abstract, name: name))
            #expect(result.status == 0, "\(name): \(result.output)")
        }
        let broken = try await compile("profile broken {\n  /etc/passwd x,\n}\n")
        #expect(broken.status == 1)
        #expect(broken.output.contains("AppArmor parser error"), "\(broken.output)")
    }

    @Test(arguments: ["apparmorprofile.yaml", "apparmorprofile-abstract.yaml"])
    func theExamplesCompile(file: String) async throws {
        try #require(FileManager.default.fileExists(atPath: Self.features), "make test installs apparmor")
        let yaml = try String(contentsOf: repositoryRoot.appendingPathComponent("examples/\(file)"), encoding: .utf8)
        let json = try JSONSerialization.data(withJSONObject: try #require(try Yams.load(yaml: yaml) as? [String: Any]))
        let profile = try APIDecoder.decode(AppArmorProfile.self, from: json)
        #expect(profile.validate() == [])
        let text = try #require(AppArmorProfileText.text(for: profile))
        #expect(text.contains("profile \(profile.metadata.name ?? "") "))
        let result = try await compile(text)
        #expect(result.status == 0, "\(result.output)")
    }
}
