import Foundation
import KubeTestServer
import SPOAPI
import SeccompKit
import Testing

/// Installed profiles, converted to an OCI `linux.seccomp` section, enforced by runc on a
/// busybox container — what kubelet and the container runtime do with the daemon's files.
let runc = URL(fileURLWithPath: "/usr/sbin/runc")

/// Whether runc can run containers here (root, runc and busybox-static installed).
let runcAvailable = getuid() == 0
    && FileManager.default.isExecutableFile(atPath: runc.path) && FileManager.default.isExecutableFile(atPath: "/bin/busybox")

@Suite(.serialized, .enabled(if: runcAvailable, "runc or busybox-static missing: run `make deps` (as root) to install them"))
struct RuncTests {
    /// Runs `args` in a busybox container whose seccomp section is the installed file of `spec`.
    func runContainer(_ spec: SeccompProfile.Spec, _ args: [String]) async throws -> CommandResult {
        let bundle = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: bundle) }
        let bin = bundle.appendingPathComponent("rootfs/bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: bundle.appendingPathComponent("rootfs/tmp"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: bin.appendingPathComponent("busybox").path)
        for tool in ["sh", "sleep", "mkdir", "true"] {
            try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent(tool).path, withDestinationPath: "busybox")
        }
        try await runToCompletion(runc, ["spec", "--bundle", bundle.path])
        let configURL = bundle.appendingPathComponent("config.json")
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        var process = config["process"] as? [String: Any] ?? [:]
        process["terminal"] = false
        process["args"] = args
        config["process"] = process
        var root = config["root"] as? [String: Any] ?? [:]
        root["readonly"] = false
        config["root"] = root
        var linux = config["linux"] as? [String: Any] ?? [:]
        // The installed file is already OCI-shaped; OCI has no baseProfileName.
        var seccomp = try #require(try JSONSerialization.jsonObject(with: Data(ProfileFile.render(spec))) as? [String: Any])
        seccomp.removeValue(forKey: "baseProfileName")
        linux["seccomp"] = seccomp
        config["linux"] = linux
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        return try await runToCompletion(runc, ["run", "--bundle", bundle.path, "spo-test-\(UUID().uuidString.prefix(8).lowercased())"])
    }

    /// A profile based on a built-in runtime profile, as the daemon would merge and write it.
    func profile(base: String, allowing extra: [String] = []) throws -> SeccompProfile.Spec {
        let child = SeccompProfile.Spec(defaultAction: .errno, baseProfileName: base, syscalls: extra.isEmpty ? nil : [.init(names: extra, action: .allow)])
        return try BaseProfiles.resolve(child, name: "app") { BuiltInProfiles.all[$0] }
    }

    @Test func theBuiltInRuncProfileIsEnoughToStartAContainer() async throws {
        let outcome = try await runContainer(try profile(base: "runc-v1.0.0"), ["/bin/sleep", "0"])
        #expect(outcome.status == 0, "\(outcome.output)")
    }

    @Test func aSyscallMissingFromTheProfileIsDeniedInTheContainer() async throws {
        let denied = try await runContainer(try profile(base: "runc-v1.1.12"), ["/bin/mkdir", "/tmp/x"])
        #expect(denied.status != 0)
        #expect(denied.output.contains("Operation not permitted"), "\(denied.output)")
        let allowed = try await runContainer(try profile(base: "runc-v1.1.12", allowing: ["mkdir", "mkdirat"]), ["/bin/mkdir", "/tmp/x"])
        #expect(allowed.status == 0, "\(allowed.output)")
    }
}
