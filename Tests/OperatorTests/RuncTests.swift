import Foundation
import KubeModels
import KubeTestServer
import SPOAPI
import SeccompKit
import Testing

/// The runtime of each built-in base.
let builtInBases: [(base: String, runtime: OCIRuntime)] = [("runc-v1.0.0", .runc), ("runc-v1.1.12", .runc), ("crun-v1.15", .crun)]

let runcAvailable = OCIRuntime.runc.isAvailable

/// What `mkdir` (busybox, static) itself calls once the runtime exec'd it, as the recipe in
/// hack/record-runtime-profile.sh shows for a container command: the part a profile adds to a base.
let mkdirSyscalls = [
    "arch_prctl", "brk", "exit_group", "getgid", "getrandom", "getuid", "mkdir", "mprotect", "newfstatat", "prctl", "prlimit64",
    "readlink", "rseq", "set_robust_list", "set_tid_address", "setgid", "setuid",
]

/// The installed file of `spec` as an OCI `linux.seccomp` section.
func oci(_ spec: SeccompProfile.Spec) throws -> JSONValue {
    try JSONValue.decode(Data(ProfileFile.render(spec)))
}

@Suite(.serialized, .enabled(if: runcAvailable, "runc or busybox-static missing: run `make deps` (as root) to install them"))
struct RuncTests {
    /// A profile on a built-in base, as the daemon would merge and write it.
    func profile(base: String, allowing extra: [String] = [], removing removed: Set<String> = []) throws -> SeccompProfile.Spec {
        let child = SeccompProfile.Spec(defaultAction: .errno, baseProfileName: base, syscalls: extra.isEmpty ? nil : [.init(names: extra, action: .allow)])
        var resolved = try BaseProfiles.resolve(child, name: "app") { BuiltInProfiles.all[$0] }
        resolved.syscalls = resolved.syscalls?.map { rule in
            var rule = rule
            rule.names = rule.names?.filter { !removed.contains($0) }
            return rule
        }
        return resolved
    }

    /// Each built-in base plus only what `mkdir` needs starts the container on the kubelet's
    /// path, with no-new-privileges off (the runtime changes user, groups and capabilities under
    /// the filter), as a non-root user with supplementary groups and changed capabilities, and
    /// with no-new-privileges on.
    @Test(arguments: builtInBases.map(\.base))
    func eachBuiltInBaseStartsAContainerTheWayAKubeletDoes(base: String) async throws {
        let runtime = try #require(builtInBases.first { $0.base == base }?.runtime)
        try #require(runtime.isAvailable, "\(runtime.rawValue) missing: run `make deps` (as root) to install it")
        let spec = try profile(base: base, allowing: mkdirSyscalls)
        let user = BusyboxContainer(
            runtime: runtime, args: ["/bin/mkdir", "/tmp/started"], noNewPrivileges: false, user: (1000, 1000, [10, 20]),
            capabilities: ["CAP_CHOWN", "CAP_NET_ADMIN"])
        let asUser = try await user.createAndStart(seccomp: try oci(spec))
        #expect(asUser.started, "\(runtime.rawValue), \(base), no-new-privileges off, uid 1000: \(asUser.output)")
        let root = BusyboxContainer(runtime: runtime, args: ["/bin/mkdir", "/tmp/started"], noNewPrivileges: false)
        let asRoot = try await root.createAndStart(seccomp: try oci(spec))
        #expect(asRoot.started, "\(runtime.rawValue), \(base), no-new-privileges off, root: \(asRoot.output)")
        var locked = user
        locked.noNewPrivileges = true
        let withNoNewPrivileges = try await locked.createAndStart(seccomp: try oci(spec))
        #expect(withNoNewPrivileges.started, "\(runtime.rawValue), \(base), no-new-privileges on: \(withNoNewPrivileges.output)")
    }

    /// The list is needed, not only sufficient: without `capset` (which the runtime calls under
    /// the filter when no-new-privileges is off) the same container does not start.
    @Test(arguments: builtInBases.map(\.base))
    func withoutOneOfItsCallsTheBaseStartsNothing(base: String) async throws {
        let runtime = try #require(builtInBases.first { $0.base == base }?.runtime)
        try #require(runtime.isAvailable, "\(runtime.rawValue) missing: run `make deps` (as root) to install it")
        let container = BusyboxContainer(
            runtime: runtime, args: ["/bin/mkdir", "/tmp/started"], noNewPrivileges: false, user: (1000, 1000, [10, 20]),
            capabilities: ["CAP_CHOWN", "CAP_NET_ADMIN"])
        let outcome = try await container.createAndStart(seccomp: try oci(try profile(base: base, allowing: mkdirSyscalls, removing: ["capset"])))
        #expect(!outcome.started, "\(runtime.rawValue), \(base) without capset: \(outcome.output)")
    }

    @Test func aSyscallMissingFromTheProfileIsDeniedInTheContainer() async throws {
        let container = BusyboxContainer(runtime: .runc, args: ["/bin/mkdir", "/tmp/x"])
        let denied = try await container.run(seccomp: try oci(try profile(base: "runc-v1.1.12", allowing: mkdirSyscalls.filter { $0 != "mkdir" })))
        #expect(denied.status != 0)
        #expect(denied.output.contains("Operation not permitted"), "\(denied.output)")
        let allowed = try await container.run(seccomp: try oci(try profile(base: "runc-v1.1.12", allowing: mkdirSyscalls)))
        #expect(allowed.status == 0, "\(allowed.output)")
    }
}
