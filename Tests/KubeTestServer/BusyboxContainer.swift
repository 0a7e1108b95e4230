import Foundation
import KubeModels

/// Installed profiles, converted to an OCI `linux.seccomp` section, enforced by a real OCI
/// runtime on a busybox container — what kubelet and the container runtime do with the
/// daemon's files, on the paths they really take: `create` then `start` (the exec fifo),
/// no-new-privileges off, a non-root user with supplementary groups, changed capabilities.
public enum OCIRuntime: String, CaseIterable, Sendable {
    case runc, crun

    public var path: String { rawValue == "runc" ? "/usr/sbin/runc" : "/usr/bin/crun" }

    public var isAvailable: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: path) && FileManager.default.isExecutableFile(atPath: "/bin/busybox")
    }

    /// The runtime's command line; crun refuses hosts with the v1/v2 hybrid cgroup layout, so
    /// it gets a private mount of the unified hierarchy (as hack/record-runtime-profile.sh does).
    public func command(_ arguments: [String]) -> [String] {
        if self == .crun, FileManager.default.fileExists(atPath: "/sys/fs/cgroup/unified") {
            return ["/usr/bin/unshare", "--mount", "/bin/sh", "-c", #"mount -t cgroup2 none /sys/fs/cgroup && exec "$@""#, "sh", path] + arguments
        }
        return [path] + arguments
    }
}

/// A busybox container under a seccomp profile.
public struct BusyboxContainer {
    public var runtime: OCIRuntime
    public var args: [String]
    public var noNewPrivileges = false
    /// uid, gid and supplementary groups; nil runs as root.
    public var user: (uid: Int, gid: Int, groups: [Int])?
    /// The bounding, effective and permitted set; nil keeps the runtime's default.
    public var capabilities: [String]?
    /// The container's id; a random one when nil (a 64-hex id makes it look like a kubelet's).
    public var id: String?
    /// `linux.cgroupsPath` (e.g. `/kubepods/besteffort/pod<uid>/<id>`, as containerd's cgroupfs driver names it).
    public var cgroupsPath: String?

    public init(
        runtime: OCIRuntime, args: [String], noNewPrivileges: Bool = false, user: (uid: Int, gid: Int, groups: [Int])? = nil,
        capabilities: [String]? = nil, id: String? = nil, cgroupsPath: String? = nil
    ) {
        self.runtime = runtime
        self.args = args
        self.noNewPrivileges = noNewPrivileges
        self.user = user
        self.capabilities = capabilities
        self.id = id
        self.cgroupsPath = cgroupsPath
    }

    /// What a kubelet asks of the runtime: a bundle whose seccomp section is the installed file
    /// of `spec`, `create` (the runtime's init waits at the exec fifo), `start`, then waiting
    /// until it stopped. True when the command ran to its end: it creates `marker` (a path in
    /// the rootfs, /tmp/started by default).
    public func createAndStart(seccomp: JSONValue?, marker: String = "tmp/started") async throws -> (started: Bool, output: String) {
        let bundle = try makeBundle(seccomp)
        defer { try? FileManager.default.removeItem(at: bundle) }
        let id = self.id ?? "spo-test-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await invoke(["create", "--bundle", bundle.path, id])
        defer { _ = try? ChildProcess.runBlockingOutput(runtime.command(["delete", "-f", id])) }
        guard created.status == 0 else { return (false, created.output) }
        let started = try await invoke(["start", id])
        var state = ""
        _ = await eventually(timeout: .seconds(30)) {
            state = (try? ChildProcess.runBlockingOutput(runtime.command(["state", id]))) ?? ""
            return !state.contains(#""status": "running""#) && !state.contains(#""status": "created""#)
        }
        let made = bundle.appendingPathComponent("rootfs").appendingPathComponent(marker).path
        return (FileManager.default.fileExists(atPath: made), created.output + started.output)
    }

    /// `run`: create, start and wait in one call, the exit status the command's.
    /// `run`: create, start and wait in one call; the status is the command's. `inspect` sees
    /// the rootfs before it is removed.
    public func run(seccomp: JSONValue?, inspect: (URL) -> Void = { _ in }) async throws -> ChildProcess.Result {
        let bundle = try makeBundle(seccomp)
        defer { try? FileManager.default.removeItem(at: bundle) }
        let id = self.id ?? "spo-test-\(UUID().uuidString.prefix(8).lowercased())"
        let result = try await invoke(["run", "--bundle", bundle.path, id])
        inspect(bundle.appendingPathComponent("rootfs"))
        return result
    }

    private func invoke(_ arguments: [String]) async throws -> ChildProcess.Result {
        let command = runtime.command(arguments)
        return try await ChildProcess.run(command[0], Array(command.dropFirst()))
    }

    private func makeBundle(_ seccomp: JSONValue?) throws -> URL {
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
        for tool in ["sh", "sleep", "mkdir", "true", "nice", "ls", "cat"] {
            try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent(tool).path, withDestinationPath: "busybox")
        }
        var process: [String: Any] = [
            "terminal": false, "args": args, "cwd": "/", "noNewPrivileges": noNewPrivileges,
            "env": ["PATH=/bin"], "user": ["uid": user?.uid ?? 0, "gid": user?.gid ?? 0, "additionalGids": user?.groups ?? []],
        ]
        let defaults = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        let capabilities = self.capabilities ?? defaults
        process["capabilities"] = ["bounding": capabilities, "effective": capabilities, "permitted": capabilities]
        var linux: [String: Any] = [
            "namespaces": [["type": "pid"], ["type": "ipc"], ["type": "uts"], ["type": "mount"], ["type": "network"]],
            "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
        ]
        if let seccomp, let object = try? JSONSerialization.jsonObject(with: seccomp.encoded()) as? [String: Any] {
            // The installed file is already OCI-shaped; OCI has no baseProfileName.
            linux["seccomp"] = object.filter { $0.key != "baseProfileName" }
        }
        if let cgroupsPath { linux["cgroupsPath"] = cgroupsPath }
        let config: [String: Any] = [
            "ociVersion": "1.0.2", "process": process, "root": ["path": "rootfs", "readonly": false], "hostname": "spo",
            "mounts": [
                ["destination": "/proc", "type": "proc", "source": "proc"],
                ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
            ],
            "linux": linux,
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: bundle.appendingPathComponent("config.json"))
        return bundle
    }
}

extension ChildProcess {
    /// Runs a command to completion and returns what it printed.
    public static func runBlockingOutput(_ command: [String]) throws -> String {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)").path
        defer { unlink(output) }
        _ = try runBlocking("/bin/sh", ["-c", #"exec "$@" > "$0" 2>&1"#, output] + command)
        return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    }
}

