import ArgumentParser
import AuditKit
import AuditSources
import CSeccomp
import Foundation
import ProcFS
import SPOAPI
import SeccompCompiler
import SeccompKit
import SyscallRecorder

#if canImport(Glibc)
import Glibc
#endif

extension Spoc {
    /// Runs a command under a profile, like a container runtime applies it.
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command under a seccomp profile and return its exit status.",
            discussion: """
                The profile is compiled with libseccomp and loaded by a helper process just before it execs \
                the command. When the profile logs (SCMP_ACT_LOG, a kill action or SECCOMP_FILTER_FLAG_LOG), \
                the syscalls the kernel logged for the command and its descendants are listed after it exits \
                (read from /dev/kmsg: needs root and no auditd taking the records).
                """)

        @Option(name: .shortAndLong, help: "The profile: SeccompProfile YAML, raw seccomp JSON or OCI configuration.")
        var profile: String

        @Option(help: "The profile to use from a file with several.")
        var select: String?

        @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
        var command: [String]

        func run() throws {
            var command = self.command
            if command.first == "--" { command.removeFirst() }
            guard !command.isEmpty else { throw ValidationError("missing the command to run") }
            let loaded: LoadedProfile
            do {
                loaded = try ProfileInput.load(profile, select: select)
                try compileCheck(loaded.resolved, profile)
            } catch {
                throw ExitCode(125)
            }
            if let blocked = Self.blocksExec(loaded.resolved) {
                throw fail("\(profile): the profile \(blocked), so no command can start under it; allow execve", status: 125)
            }
            guard cseccomp_kernel_supports_filters() == 1 else {
                throw fail("this kernel does not support seccomp filters", status: 125)
            }
            let logs = Self.logs(loaded.resolved)
            var log: KernelLog?
            if logs {
                do {
                    log = KernelLog(reader: try KernelLogReader())
                } catch {
                    note("cannot read /dev/kmsg (\(String(cString: strerror(error.errno)))): logged syscalls will not be listed")
                }
            }

            // Subscribed before the command starts, so that no fork is missed.
            let forks = log == nil ? nil : ForkEvents()
            let process: RunningCommand
            do {
                process = try RunningCommand.start(command, helper: SpocMain.helper, profile: ProfileFile.render(ProfileDocument.runtimeSpec(loaded.resolved)))
            } catch {
                throw fail(error.description, status: error.kind == .commandNotFound ? 127 : 125)
            }
            var logged: [AuditEvent] = []
            var tree = ProcessTree(root: process.pid, forks: forks)
            let status: Int32
            while true {
                if let log { logged += log.drain().filter { tree.contains($0.pid) } }
                if let exited = process.poll() {
                    status = exited
                    break
                }
                usleep(20_000)
            }
            if let log {
                // The kernel may print the last records just after the command exits.
                usleep(50_000)
                logged += log.drain().filter { tree.contains($0.pid) }
                Self.report(logged)
            }
            if status > 128 { note("the command was killed by signal \(status - 128)") }
            throw ExitCode(status)
        }

        /// How the profile stops `execve` (which the helper makes after loading it), if it does.
        static func blocksExec(_ spec: SeccompProfile.Spec) -> String? {
            let permitting: Set<String> = ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG"]
            let rules = spec.rulesByName["execve"] ?? []
            if let unconditional = rules.first(where: { $0.args.isEmpty }) {
                return permitting.contains(unconditional.action) ? nil : "gives execve \(unconditional.action)"
            }
            let defaultAction = spec.defaultAction?.rawValue ?? ""
            return permitting.contains(defaultAction) || !rules.isEmpty ? nil : "denies execve (default action \(defaultAction))"
        }

        /// Whether the kernel will log some of the profile's decisions.
        static func logs(_ spec: SeccompProfile.Spec) -> Bool {
            let logging: Set<String> = ["SCMP_ACT_LOG", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD"]
            if spec.flags?.contains(where: { $0.rawValue == "SECCOMP_FILTER_FLAG_LOG" }) == true { return true }
            if logging.contains(spec.defaultAction?.rawValue ?? "") { return true }
            return spec.syscalls?.contains { logging.contains($0.action?.rawValue ?? "") } ?? false
        }

        static func report(_ events: [AuditEvent]) {
            var table = SyscallNameTable()
            var seen: [String: (count: Int, executables: Set<String>)] = [:]
            for event in events {
                guard case .seccomp(let number, let arch) = event.details else { continue }
                let name = table.name(of: number, arch: arch) ?? "#\(number)"
                seen[name, default: (0, [])].count += 1
                seen[name]?.executables.insert(event.executable)
            }
            guard !seen.isEmpty else {
                note("the kernel logged no syscall of the command")
                return
            }
            note("syscalls the profile logged or denied (\(seen.count)):")
            for name in seen.keys.sorted() {
                let entry = seen[name]!
                note("  \(name): \(entry.count)× by \(entry.executables.sorted().joined(separator: ", "))")
            }
        }
    }
}

/// The command's processes: its pid and its descendants, from fork events (precise) or,
/// without them, from the parent chain in /proc while the process still exists.
struct ProcessTree {
    private var members: Set<Int32>
    private var strangers: Set<Int32> = []
    private let forks: ForkEvents?

    init(root: Int32, forks: ForkEvents?) {
        members = [root]
        self.forks = forks
    }

    mutating func contains(_ pid: Int32) -> Bool {
        for fork in forks?.drain() ?? [] where members.contains(fork.parent) {
            members.insert(fork.child)
        }
        if members.contains(pid) { return true }
        if forks != nil || strangers.contains(pid) { return false }
        var current = pid
        for _ in 0..<64 {
            guard let stat = ProcFS.read("/proc/\(current)/stat").map(ProcFS.Stat.init), stat.parent > 1 else { break }
            if members.contains(stat.parent) {
                members.insert(pid)
                return true
            }
            current = stat.parent
        }
        strangers.insert(pid)
        return false
    }
}

/// The kernel log from the moment the run starts: the seccomp records printed since the last
/// call.
struct KernelLog {
    let reader: KernelLogReader

    func drain() -> [AuditEvent] {
        var batch = LineBatch()
        var events: [AuditEvent] = []
        while true {
            // A read error other than "nothing more now" ends this drain; the next one retries.
            let more = (try? reader.read(into: &batch, limit: 512)) ?? false
            batch.forEachLine { line in
                if let event = AuditLineParser.parse(line), case .seccomp = event.details { events.append(event) }
            }
            batch.removeAll()
            if !more { return events }
        }
    }
}
