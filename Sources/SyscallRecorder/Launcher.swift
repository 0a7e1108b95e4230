import Foundation
import CSyscallTrace

#if canImport(Glibc)
import Glibc
#endif

/// How to start the exec helper: this binary with the subcommand that runs
/// ``ExecHelper/main(_:)``. Commands are never started by forking this (threaded) process:
/// the helper is spawned, prepares itself (ptrace, seccomp filter) and `exec`s the command.
public struct HelperCommand: Sendable, Hashable {
    public var executable: String
    public var arguments: [String]

    public init(executable: String, arguments: [String]) {
        self.executable = executable
        self.arguments = arguments
    }
}

/// Why a command could not be recorded or run.
public struct RecordingError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The recorder cannot work on this machine (no privileges, kernel feature missing).
        case unavailable
        /// The command cannot be started.
        case commandNotFound
        case failed
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func system(_ operation: String, _ code: Int32 = errno, kind: Kind = .failed) -> RecordingError {
        RecordingError(kind, "\(operation): \(String(cString: strerror(code)))")
    }
}

/// A spawned exec helper, held at its gate until ``open(profile:)``.
final class LaunchedCommand {
    let pid: pid_t
    private var gate: Int32

    /// The descriptor number the helper reads its gate (and profile) from.
    static let gateDescriptor: Int32 = 3

    private init(pid: pid_t, gate: Int32) {
        self.pid = pid
        self.gate = gate
    }

    deinit {
        if gate >= 0 { close(gate) }
    }

    /// Spawns the helper for `command`. With `traceme`, the command starts traced by the
    /// calling thread, which must then be the one that makes every ptrace call.
    static func spawn(_ command: [String], helper: HelperCommand, traceme: Bool) throws(RecordingError) -> LaunchedCommand {
        guard let executable = command.first else { throw RecordingError(.failed, "no command given") }
        let resolved = try ExecutableLookup.resolve(executable)
        var pipeEnds: [Int32] = [-1, -1]
        guard csyscalltrace_pipe_cloexec(&pipeEnds) == 0 else { throw .system("pipe") }
        defer { close(pipeEnds[0]) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[0], gateDescriptor)
        csyscalltrace_spawn_close_from(&actions, gateDescriptor + 1)

        var arguments = [helper.executable] + helper.arguments + ["--gate-fd", String(gateDescriptor)]
        if traceme { arguments.append("--traceme") }
        arguments += ["--", resolved] + command.dropFirst()
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }

        var pid: pid_t = 0
        let rc = posix_spawn(&pid, helper.executable, &actions, nil, argv, environ)
        guard rc == 0 else {
            close(pipeEnds[1])
            throw .system("cannot start \(helper.executable)", rc)
        }
        return LaunchedCommand(pid: pid, gate: pipeEnds[1])
    }

    /// Lets the helper go on: it reads `profile` (the JSON of a seccomp profile spec to load,
    /// or nothing), then `exec`s the command.
    func open(profile: [UInt8] = []) throws(RecordingError) {
        var offset = 0
        while offset < profile.count {
            let written = profile[offset...].withUnsafeBytes { write(gate, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .system("writing the profile to the helper")
            }
            offset += written
        }
        close(gate)
        gate = -1
    }

    /// Waits until the helper is blocked reading its gate (`/proc/<pid>/syscall` shows
    /// `read` on the gate descriptor): from then on it makes no call of its own before `exec`.
    func waitUntilAtGate(timeout: Duration = .seconds(10)) throws(RecordingError) {
        let expected = "\(Architectures.readNumber) 0x\(String(Self.gateDescriptor, radix: 16)) "
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = try? String(contentsOfFile: "/proc/\(pid)/syscall", encoding: .utf8), line.hasPrefix(expected) { return }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw RecordingError(.failed, "the helper exited before the command started (status \(WaitStatus(status).exitStatus))")
            }
            usleep(500)
        }
        throw RecordingError(.failed, "the helper did not reach its gate within \(timeout)")
    }

    /// Waits for the command to exit; the status like a shell reports it.
    func wait() throws(RecordingError) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw .system("waitpid") }
        }
        return WaitStatus(status).exitStatus
    }
}

/// Finding a command before starting it.
public enum ExecutableLookup {
    /// The command as found on `PATH` (a name with a slash is taken as it is), so that "command
    /// not found" is reported before anything starts.
    public static func resolve(_ executable: String) throws(RecordingError) -> String {
        if executable.contains("/") {
            guard access(executable, X_OK) == 0 else { throw .system("cannot run \(executable)", kind: .commandNotFound) }
            return executable
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(executable)"
            var info = stat()
            if access(candidate, X_OK) == 0, stat(candidate, &info) == 0, info.st_mode & S_IFMT != S_IFDIR {
                return candidate
            }
        }
        throw RecordingError(.commandNotFound, "command not found: \(executable)")
    }
}

/// A `waitpid` status.
struct WaitStatus {
    var raw: Int32

    init(_ raw: Int32) { self.raw = raw }

    var isExited: Bool { raw & 0x7f == 0 }
    var isStopped: Bool { raw & 0xff == 0x7f }
    var stopSignal: Int32 { (raw >> 8) & 0xff }
    /// The `PTRACE_EVENT_*` of a ptrace event stop, else 0.
    var ptraceEvent: Int32 { (raw >> 16) & 0xff }
    /// The exit code, or 128 + the terminating signal.
    var exitStatus: Int32 { isExited ? (raw >> 8) & 0xff : 128 + (raw & 0x7f) }
}

/// A command started under a seccomp profile through the exec helper (`spoc run`).
public final class RunningCommand {
    private let launched: LaunchedCommand
    public var pid: Int32 { launched.pid }

    private init(_ launched: LaunchedCommand) { self.launched = launched }

    /// Starts `command`; the helper loads `profile` (the JSON of a seccomp profile spec, or
    /// nothing) and execs it.
    public static func start(_ command: [String], helper: HelperCommand, profile: [UInt8]) throws(RecordingError) -> RunningCommand {
        let launched = try LaunchedCommand.spawn(command, helper: helper, traceme: false)
        try launched.open(profile: profile)
        return RunningCommand(launched)
    }

    /// The exit status once the command has exited, without blocking; nil while it runs.
    public func poll() -> Int32? {
        var status: Int32 = 0
        let result = waitpid(launched.pid, &status, WNOHANG)
        if result == launched.pid { return WaitStatus(status).exitStatus }
        // Not our child any more (cannot happen unless someone else reaped it): report a failure.
        if result < 0, errno == ECHILD { return 125 }
        return nil
    }
}
