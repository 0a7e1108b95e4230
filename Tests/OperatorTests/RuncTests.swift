import Foundation
import KubeTestServer
import SPOAPI
import SeccompKit
import Testing

/// Installed profiles, converted to an OCI `linux.seccomp` section, enforced by a real OCI
/// runtime on a busybox container — what kubelet and the container runtime do with the
/// daemon's files, on the paths they really take: `create` then `start` (the exec fifo),
/// no-new-privileges off, a non-root user with supplementary groups, changed capabilities.
enum OCIRuntime: String, CaseIterable, Sendable {
    case runc, crun

    var path: String { rawValue == "runc" ? "/usr/sbin/runc" : "/usr/bin/crun" }

    var isAvailable: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: path) && FileManager.default.isExecutableFile(atPath: "/bin/busybox")
    }

    /// The runtime's command line; crun refuses hosts with the v1/v2 hybrid cgroup layout, so
    /// it gets a private mount of the unified hierarchy (as hack/record-runtime-profile.sh does).
    func command(_ arguments: [String]) -> [String] {
        if self == .crun, FileManager.default.fileExists(atPath: "/sys/fs/cgroup/unified") {
            return ["/usr/bin/unshare", "--mount", "/bin/sh", "-c", #"mount -t cgroup2 none /sys/fs/cgroup && exec "$@""#, "sh", path] + arguments
        }
        return [path] + arguments
    }
}

/// The runtime of each built-in base.
let builtInBases: [(base: String, runtime: OCIRuntime)] = [("runc-v1.0.0", .runc), ("runc-v1.1.12", .runc), ("crun-v1.15", .crun)]

let runcAvailable = OCIRuntime.runc.isAvailable

/// What `mkdir` (busybox, static) itself calls once the runtime exec'd it, as the recipe in
/// hack/record-runtime-profile.sh shows for a container command: the part a profile adds to a base.
let mkdirSyscalls = [
    "arch_prctl", "brk", "exit_group", "getgid", "getrandom", "getuid", "mkdir", "mprotect", "newfstatat", "prctl", "prlimit64",
    "readlink", "rseq", "set_robust_list", "set_tid_address", "setgid", "setuid",
]

/// A busybox container under a seccomp profile.
struct BusyboxContainer {
    var runtime: OCIRuntime
    var args: [String]
    var noNewPrivileges = false
    /// uid, gid and supplementary groups; nil runs as root.
    var user: (uid: Int, gid: Int, groups: [Int])?
    /// The bounding, effective and permitted set; nil keeps the runtime's default.
    var capabilities: [String]?

    /// What a kubelet asks of the runtime: a bundle whose seccomp section is the installed file
    /// of `spec`, `create` (the runtime's init waits at the exec fifo), `start`, then waiting
    /// until it stopped. True when the command ran: it creates /tmp/started in the rootfs.
    func createAndStart(_ spec: SeccompProfile.Spec) async throws -> (started: Bool, output: String) {
        let bundle = try makeBundle(spec)
        defer { try? FileManager.default.removeItem(at: bundle) }
        let id = "spo-test-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await invoke(["create", "--bundle", bundle.path, id])
        defer { _ = try? ChildProcess.runBlockingOutput(runtime.command(["delete", "-f", id])) }
        guard created.status == 0 else { return (false, created.output) }
        let started = try await invoke(["start", id])
        var state = ""
        _ = await eventually(timeout: .seconds(30)) {
            state = (try? ChildProcess.runBlockingOutput(runtime.command(["state", id]))) ?? ""
            return !state.contains(#""status": "running""#) && !state.contains(#""status": "created""#)
        }
        let marker = bundle.appendingPathComponent("rootfs/tmp/started").path
        return (FileManager.default.fileExists(atPath: marker), created.output + started.output)
    }

    /// `run`: create, start and wait in one call, the exit status the command's.
    func run(_ spec: SeccompProfile.Spec) async throws -> CommandResult {
        let bundle = try makeBundle(spec)
        defer { try? FileManager.default.removeItem(at: bundle) }
        let id = "spo-test-\(UUID().uuidString.prefix(8).lowercased())"
        return try await invoke(["run", "--bundle", bundle.path, id])
    }

    private func invoke(_ arguments: [String]) async throws -> CommandResult {
        let command = runtime.command(arguments)
        return try await ChildProcess.run(command[0], Array(command.dropFirst()))
    }

    private func makeBundle(_ spec: SeccompProfile.Spec) throws -> URL {
        let bundle = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID().uuidString)")
        let bin = bundle.appendingPathComponent("rootfs/bin")
        let tmp = bundle.appendingPathComponent("rootfs/tmp")
        // Explicit modes: the container's non-root user must reach its binaries whatever the
        // test process's umask is.
        for directory in [bundle, bundle.appendingPathComponent("rootfs"), bin, tmp] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try FileManager.default.setAttributes([.posixPermissions: directory == tmp ? 0o1777 : 0o755], ofItemAtPath: directory.path)
        }
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: bin.appendingPathComponent("busybox").path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin.appendingPathComponent("busybox").path)
        for tool in ["sh", "sleep", "mkdir", "true"] {
            try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent(tool).path, withDestinationPath: "busybox")
        }
        var process: [String: Any] = [
            "terminal": false, "args": args, "cwd": "/", "noNewPrivileges": noNewPrivileges,
            "env": ["PATH=/bin"], "user": ["uid": user?.uid ?? 0, "gid": user?.gid ?? 0, "additionalGids": user?.groups ?? []],
        ]
        let defaults = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        let capabilities = self.capabilities ?? defaults
        process["capabilities"] = ["bounding": capabilities, "effective": capabilities, "permitted": capabilities]
        // The installed file is already OCI-shaped; OCI has no baseProfileName.
        var seccomp = try #require(try JSONSerialization.jsonObject(with: Data(ProfileFile.render(spec))) as? [String: Any])
        seccomp.removeValue(forKey: "baseProfileName")
        let config: [String: Any] = [
            "ociVersion": "1.0.2", "process": process, "root": ["path": "rootfs", "readonly": false], "hostname": "spo",
            "mounts": [
                ["destination": "/proc", "type": "proc", "source": "proc"],
                ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
            ],
            "linux": [
                "namespaces": [["type": "pid"], ["type": "ipc"], ["type": "uts"], ["type": "mount"], ["type": "network"]],
                "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"], "seccomp": seccomp,
            ] as [String: Any],
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: bundle.appendingPathComponent("config.json"))
        return bundle
    }
}

extension ChildProcess {
    /// Runs a command to completion and returns what it printed.
    static func runBlockingOutput(_ command: [String]) throws -> String {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)").path
        defer { unlink(output) }
        _ = try runBlocking("/bin/sh", ["-c", #"exec "$@" > "$0" 2>&1"#, output] + command)
        return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    }
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
        let asUser = try await user.createAndStart(spec)
        #expect(asUser.started, "\(runtime.rawValue), \(base), no-new-privileges off, uid 1000: \(asUser.output)")
        let root = BusyboxContainer(runtime: runtime, args: ["/bin/mkdir", "/tmp/started"], noNewPrivileges: false)
        let asRoot = try await root.createAndStart(spec)
        #expect(asRoot.started, "\(runtime.rawValue), \(base), no-new-privileges off, root: \(asRoot.output)")
        var locked = user
        locked.noNewPrivileges = true
        let withNoNewPrivileges = try await locked.createAndStart(spec)
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
        let outcome = try await container.createAndStart(try profile(base: base, allowing: mkdirSyscalls, removing: ["capset"]))
        #expect(!outcome.started, "\(runtime.rawValue), \(base) without capset: \(outcome.output)")
    }

    @Test func aSyscallMissingFromTheProfileIsDeniedInTheContainer() async throws {
        let container = BusyboxContainer(runtime: .runc, args: ["/bin/mkdir", "/tmp/x"])
        let denied = try await container.run(try profile(base: "runc-v1.1.12", allowing: mkdirSyscalls.filter { $0 != "mkdir" }))
        #expect(denied.status != 0)
        #expect(denied.output.contains("Operation not permitted"), "\(denied.output)")
        let allowed = try await container.run(try profile(base: "runc-v1.1.12", allowing: mkdirSyscalls))
        #expect(allowed.status == 0, "\(allowed.output)")
    }
}
