import CSyscallTrace

#if canImport(Glibc)
import Glibc
#endif

/// Records with ptrace: every syscall entry of the command and of every process or thread it
/// starts (fork, vfork, clone followed), with the architecture the kernel reports for it
/// (`PTRACE_GET_SYSCALL_INFO`). Slow (two stops per syscall) but needs no BPF.
///
/// Blocks the calling thread until the command and all its descendants have exited; the
/// calling thread is the tracer, so it must be a thread that does nothing else meanwhile.
/// Reaps every child of this process while it runs.
public struct PtraceRecorder: SyscallRecorder {
    public init() {}

    public var name: String { "ptrace" }

    public func record(_ command: [String], helper: HelperCommand) throws(RecordingError) -> Recording {
        let launched = try LaunchedCommand.spawn(command, helper: helper, traceme: true)
        try launched.open()
        let main = launched.pid
        var status: Int32 = 0
        while waitpid(main, &status, __WALL) < 0 {
            guard errno == EINTR else { throw .system("waitpid") }
        }
        let first = WaitStatus(status)
        guard first.isStopped else {
            // The helper failed before exec (its message is on stderr).
            throw RecordingError(.failed, "the command did not start (exit status \(first.exitStatus))")
        }
        guard csyscalltrace_set_options(main) == 0 else {
            let error = RecordingError.system("ptrace(PTRACE_SETOPTIONS)", kind: .unavailable)
            kill(main, SIGKILL)
            _ = try? launched.wait()
            throw error
        }
        var calls: [UInt32: [Int32: UInt64]] = [:]
        // The execve that started the command stopped after it returned: count it here.
        calls[Architectures.native, default: [:]][Architectures.execveNumber, default: 0] += 1

        var known: Set<pid_t> = [main]
        var exitStatus: Int32 = 0
        var resumeTarget = main, resumeSignal: Int32 = 0
        while true {
            if resumeTarget > 0 { _ = csyscalltrace_resume(resumeTarget, resumeSignal) }
            resumeTarget = 0
            resumeSignal = 0
            let pid = waitpid(-1, &status, __WALL)
            if pid < 0 {
                if errno == EINTR { continue }
                if errno == ECHILD { break }
                throw .system("waitpid")
            }
            let state = WaitStatus(status)
            guard state.isStopped else {
                known.remove(pid)
                if pid == main { exitStatus = state.exitStatus }
                continue
            }
            resumeTarget = pid
            let signal = state.stopSignal
            if signal == SIGTRAP | 0x80 {
                var info = csyscalltrace_syscall()
                if csyscalltrace_syscall_info(pid, &info) == 0, info.op == 1, info.number < UInt64(Int32.max) {
                    calls[info.arch, default: [:]][Int32(info.number), default: 0] += 1
                }
            } else if signal == SIGTRAP, state.ptraceEvent != 0 {
                // fork/vfork/clone/exec event: nothing to record, the new task reports itself.
            } else if signal == SIGSTOP, !known.contains(pid) {
                // A new process or thread, attached automatically, stopped once at its start.
                known.insert(pid)
            } else {
                // A signal for the command: deliver it.
                resumeSignal = signal
            }
        }
        return Recording(exitStatus: exitStatus, calls: calls)
    }
}
