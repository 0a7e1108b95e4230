import SPOAPI

/// Base profiles built into the binary, so that `baseProfileName: runc-v1.0.0` (the upstream
/// documentation's example) works without creating the base object first. A SeccompProfile of
/// the same name in the profile's namespace takes precedence.
///
/// Each list is what `hack/record-runtime-profile.sh <runtime>` recorded on the project's build
/// machine (Debian 12: runc 1.1.5, crun 1.8.1): every syscall the runtime and a busybox
/// `sleep` container make after the container's seccomp filter is loaded, the union of many
/// runs. The runc list serves both runc names; the versions in the names are the ones users'
/// manifests already reference.
public enum BuiltInProfiles {
    /// Syscalls runc needs to start a container under a profile: the recording, plus the
    /// calls of the Go runtime in runc's init process (scheduling, preemption signals, memory),
    /// which a recording only catches when the scheduler happens to run in the short window
    /// between loading the filter and exec.
    public static let runcSyscalls = Array(Set(runcRecorded + goRuntime)).sorted()

    /// What `hack/record-runtime-profile.sh runc` recorded (30 runs under CPU load, plus 3 idle).
    static let runcRecorded = [
        "arch_prctl", "brk", "clock_nanosleep", "close", "epoll_ctl", "execve", "exit_group", "fstatfs",
        "futex", "getdents64", "getpid", "getrandom", "getuid", "mprotect", "openat", "prctl", "prlimit64",
        "readlink", "rseq", "rt_sigreturn", "set_robust_list", "set_tid_address", "write",
    ]

    /// The Go runtime's own syscalls (futex waits and wakes, sleeps, preemption via tgkill and
    /// signal return, memory management).
    static let goRuntime = [
        "futex", "gettid", "madvise", "mmap", "munmap", "nanosleep", "rt_sigprocmask", "rt_sigreturn",
        "sched_yield", "sigaltstack", "tgkill",
    ]

    /// Syscalls crun (C, single-threaded) needs to start a container under a profile, as
    /// recorded (30 runs under CPU load, plus 3 idle).
    public static let crunSyscalls = [
        "arch_prctl", "brk", "clock_nanosleep", "close", "execve", "exit_group", "getrandom", "getuid",
        "mprotect", "prctl", "prlimit64", "readlink", "rseq", "set_robust_list", "set_tid_address",
    ]

    /// The built-in bases by name.
    public static let all: [String: SeccompProfile.Spec] = [
        "runc-v1.0.0": base(runcSyscalls),
        "runc-v1.1.12": base(runcSyscalls),
        "crun-v1.15": base(crunSyscalls),
    ]

    static func base(_ names: [String]) -> SeccompProfile.Spec {
        SeccompProfile.Spec(defaultAction: .errno, syscalls: [.init(names: names, action: .allow)])
    }
}
