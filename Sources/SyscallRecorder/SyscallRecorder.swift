import CSeccomp

/// Records which syscalls a command and its descendants make. The engine of `spoc record`,
/// also meant for the node's recorder.
public protocol SyscallRecorder: Sendable {
    /// `ebpf` or `ptrace`.
    var name: String { get }
    /// Runs `command` (a path or a name looked up on `PATH`, then its arguments) through the
    /// exec helper and returns what it called. Blocks the calling thread.
    func record(_ command: [String], helper: HelperCommand) throws(RecordingError) -> Recording
}

extension Architectures {
    /// This machine's architecture token.
    static var native: UInt32 { seccomp_arch_native() }

    /// `read`'s number on the native architecture.
    static var readNumber: Int32 { seccomp_syscall_resolve_name("read") }

    /// `execve`'s number on the native architecture.
    static var execveNumber: Int32 { seccomp_syscall_resolve_name("execve") }
}
