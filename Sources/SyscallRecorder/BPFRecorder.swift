import Foundation
import CSyscallTrace

#if canImport(Glibc)
import Glibc
#endif

/// Records with eBPF: the command runs in a new cgroup (v2) and a raw tracepoint on
/// `sys_enter` counts the syscalls of every task in it, so descendants are covered however
/// they are started. Costs other processes one comparison per syscall; needs root (or
/// CAP_BPF + CAP_PERFMON) and a writable cgroup2 hierarchy.
///
/// Blocks the calling thread until the command and every process left in its cgroup exit.
public struct BPFRecorder: SyscallRecorder {
    /// Syscall slots per architecture in the BPF map (must match bpf/syscall_recorder.bpf.c).
    static let slots = 1024
    /// Where cgroup2 is mounted; found in /proc/self/mountinfo when nil.
    public var cgroupRoot: String?

    public init(cgroupRoot: String? = nil) {
        self.cgroupRoot = cgroupRoot
    }

    public var name: String { "ebpf" }

    public func record(_ command: [String], helper: HelperCommand) throws(RecordingError) -> Recording {
        _ = try ExecutableLookup.resolve(command.first ?? "")
        guard let root = cgroupRoot ?? Self.cgroup2Mount() else {
            throw RecordingError(.unavailable, "eBPF recorder: no cgroup2 hierarchy is mounted")
        }
        let cgroup = "\(root)/spoc-record-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(cgroup, 0o755) == 0 else { throw .system("eBPF recorder: cannot create cgroup \(cgroup)", kind: .unavailable) }
        defer { Self.removeCgroup(cgroup) }
        var info = stat()
        guard stat(cgroup, &info) == 0 else { throw .system("stat \(cgroup)") }

        csyscalltrace_capture_libbpf_messages()
        let object = RecorderObject.bytes
        guard let recorder = object.withUnsafeBytes({ csyscalltrace_bpf_start($0.baseAddress, $0.count, UInt64(info.st_ino)) }) else {
            let code = errno
            let detail = String(cString: csyscalltrace_take_libbpf_messages()).split(separator: "\n").last.map { " (\($0))" } ?? ""
            throw RecordingError(.unavailable, "eBPF recorder: cannot load the BPF program: \(String(cString: strerror(code)))\(detail)")
        }
        defer { csyscalltrace_bpf_stop(recorder) }

        let launched = try LaunchedCommand.spawn(command, helper: helper, traceme: false)
        do {
            // Moved into the cgroup only once it waits at its gate, so that none of the
            // helper's own start-up calls are recorded.
            try launched.waitUntilAtGate()
            try Self.write("\(launched.pid)", to: "\(cgroup)/cgroup.procs")
        } catch {
            kill(launched.pid, SIGKILL)
            _ = try? launched.wait()
            throw error
        }
        try launched.open()
        let exitStatus = try launched.wait()
        Self.waitUntilEmpty(cgroup)

        var counts = [UInt64](repeating: 0, count: 2 * Self.slots)
        let rc = counts.withUnsafeMutableBufferPointer { csyscalltrace_bpf_read_counts(recorder, $0.baseAddress, UInt32($0.count)) }
        guard rc == 0 else { throw .system("reading the BPF map", -rc) }
        var calls: [UInt32: [Int32: UInt64]] = [:]
        for (slot, count) in counts.enumerated() where count > 0 {
            // The last slot of each architecture collects out-of-range numbers; none exist today.
            let arch = slot < Self.slots ? Architectures.native : Architectures.x86
            calls[arch, default: [:]][Int32(slot % Self.slots)] = count
        }
        return Recording(exitStatus: exitStatus, calls: calls)
    }

    /// The mount point of the cgroup2 file system (`/sys/fs/cgroup` on unified hosts,
    /// `/sys/fs/cgroup/unified` on hybrid ones).
    static func cgroup2Mount() -> String? {
        guard let mountinfo = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        for line in mountinfo.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2, halves[1].hasPrefix("cgroup2 ") else { continue }
            let fields = halves[0].split(separator: " ")
            if fields.count > 4 { return String(fields[4]) }
        }
        return nil
    }

    static func write(_ text: String, to path: String) throws(RecordingError) {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .system("open \(path)") }
        defer { close(descriptor) }
        let written = text.withCString { Glibc.write(descriptor, $0, strlen($0)) }
        guard written >= 0 else { throw .system("write \(path)") }
    }

    /// Descendants may outlive the command; their calls count until they exit.
    static func waitUntilEmpty(_ cgroup: String) {
        while let procs = try? String(contentsOfFile: "\(cgroup)/cgroup.procs", encoding: .utf8),
              !procs.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            usleep(10_000)
        }
    }

    static func removeCgroup(_ cgroup: String) {
        // A process that has just exited can keep the cgroup busy for a moment.
        for _ in 0..<100 {
            if rmdir(cgroup) == 0 || errno == ENOENT { return }
            usleep(10_000)
        }
    }
}
