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
                (read from /dev/kmsg: needs root and no auditd taking the records). Without auditd the kernel \
                prints at most kernel.printk_ratelimit_burst records per kernel.printk_ratelimit seconds; spoc \
                says when it dropped some or may have, and --strict then exits 125.
                """)

        @Option(name: .shortAndLong, help: "The profile: SeccompProfile YAML, raw seccomp JSON or OCI configuration.")
        var profile: String

        @Option(help: "The profile to use from a file with several.")
        var select: String?

        @Flag(help: "Exit 125 instead of the command's status when the list of logged syscalls may be incomplete (the kernel dropped records, or they could not be read).")
        var strict = false

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
            var incomplete = false
            if logs {
                do {
                    log = try KernelLog()
                } catch {
                    note("cannot read /dev/kmsg (\(String(cString: strerror(error.errno)))): logged syscalls will not be listed")
                    incomplete = true
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
                log.finish()
                Self.report(logged)
                if let loss = log.loss {
                    note(loss)
                    note("to keep every record: sysctl -w kernel.printk_ratelimit=0 (restore it afterwards), or run auditd and read /var/log/audit/audit.log")
                    incomplete = true
                }
            }
            if status > 128 { note("the command was killed by signal \(status - 128)") }
            if strict, incomplete {
                note("--strict: the list may be incomplete; the command's status was \(status)")
                throw ExitCode(125)
            }
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
/// call, and what tells whether the kernel dropped some (the serials of every audit record, the
/// kernel's suppression notices, and how many rate-limited lines it printed around the run).
final class KernelLog {
    private let reader: KernelLogReader
    private let limit: PrintkRateLimit
    private let started: Int64
    private var ended: Int64?
    private var serials: Set<UInt64> = []
    private var rateLimited: [Int64] = []
    private var account = AuditLossAccount()

    /// Opens the log and reads what the kernel printed before the run (only the timestamps
    /// of rate-limited lines are kept: they used up part of the budget the run's records share).
    init() throws(AuditSourceError) {
        reader = try KernelLogReader(startAtEnd: false)
        limit = PrintkRateLimit(
            intervalSeconds: Self.sysctl("printk_ratelimit") ?? 5, burst: Self.sysctl("printk_ratelimit_burst") ?? 10)
        started = Self.now()
        let horizon = started - Int64(limit.intervalSeconds + 2) * 1_000_000
        while (try? reader.readRecords(limit: 4096, { _, time, message in
            if time >= horizon, AuditLossNotice.isRateLimited(message) { self.rateLimited.append(time) }
        })) == true {}
        _ = reader.takeOverwritten()
    }

    func drain() -> [AuditEvent] {
        var events: [AuditEvent] = []
        while true {
            // A read error other than "nothing more now" ends this drain; the next one retries.
            let more = (try? reader.readRecords(limit: 512) { _, time, message in
                if AuditLossNotice.isRateLimited(message) { rateLimited.append(time) }
                if let serial = AuditSerial.parse(message) { serials.insert(serial) }
                if let event = AuditLineParser.parse(message), case .seccomp = event.details {
                    events.append(event)
                } else if let notice = AuditLossNotice.parse(message) {
                    account.account(notice)
                }
            }) ?? false
            if !more { break }
        }
        account.accountOverrun(reader.takeOverwritten())
        return events
    }

    /// Marks the end of the run (after the last drain).
    func finish() {
        ended = Self.now()
    }

    /// What the user should know about dropped records, nil when nothing was dropped.
    var loss: String? {
        let dropped = max(AuditSerial.missing(in: serials), account.total)
        let limitText = "at most \(limit.burst) per \(limit.intervalSeconds) s: kernel.printk_ratelimit_burst, kernel.printk_ratelimit"
        if dropped > 0 {
            return "the kernel dropped \(dropped) audit record\(dropped == 1 ? "" : "s") while the command ran: the list above may be incomplete"
                + (limit.isActive ? " (without auditd it prints \(limitText))" : "")
        }
        if limit.mayHaveDropped(printedAt: rateLimited, start: started, end: ended ?? Self.now()) {
            return "the kernel's rate limit for audit records (\(limitText)) was used up while the command ran, "
                + "so it may have dropped records: the list above may be incomplete"
        }
        return nil
    }

    /// The kernel log's clock: microseconds since boot.
    private static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1000
    }

    private static func sysctl(_ name: String) -> Int? {
        (try? String(contentsOfFile: "/proc/sys/kernel/\(name)", encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}
