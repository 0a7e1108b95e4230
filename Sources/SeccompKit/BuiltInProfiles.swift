import SPOAPI

/// Base profiles built into the binary, so that `baseProfileName: runc-v1.0.0` (the upstream
/// documentation's example) works without creating the base object first. A SeccompProfile of
/// the same name in the profile's namespace takes precedence.
///
/// Each list is what `hack/record-runtime-profile.sh <runtime>` printed on the project's build
/// machine (Debian 12: runc 1.1.5, crun 1.8.1; 30 runs of every variant under CPU load): every
/// syscall the runtime's own init process makes after it loaded the container's filter, up to
/// and including the `execve` of the container's command, on the paths a kubelet takes:
/// `create` then `start` (the exec fifo), no-new-privileges off (Kubernetes' default, so the
/// filter is loaded before the runtime changes user, groups, capabilities and working
/// directory) and on, root and a non-root user with supplementary groups, changed capabilities,
/// `exec` into a running container, and `run`. The command's own syscalls are not in them: a
/// profile adds what its workload calls. The runc list serves both runc names; the versions in
/// the names are the ones users' manifests already reference.
public enum BuiltInProfiles {
    /// What runc's init (`runc:[2:INIT]`) calls after loading the filter. `rt_sigreturn` returns
    /// from the Go runtime's preemption signal, which arrives in some runs only.
    public static let runcSyscalls = [
        "capget", "capset", "chdir", "close", "epoll_ctl", "execve", "faccessat2", "fchown", "fcntl", "fstat", "fstatfs",
        "futex", "getcwd", "getdents64", "getpid", "getppid", "newfstatat", "openat", "prctl", "read", "rt_sigreturn",
        "setgid", "setgroups", "setuid", "write",
    ]

    /// What crun's container process calls after loading the filter, before it execs the command.
    public static let crunSyscalls = [
        "capset", "close", "execve", "fchown", "ioctl", "openat", "prctl", "pselect6", "read", "rt_sigaction",
        "rt_sigprocmask", "setgroups", "setresgid", "setresuid", "statx", "umask", "write",
    ]

    /// The built-in bases by name.
    public static let all: [String: SeccompProfile.Spec] = [
        "runc-v1.0.0": base(runcSyscalls),
        "runc-v1.1.12": base(runcSyscalls),
        "crun-v1.15": base(crunSyscalls),
    ]

    /// The runtimes whose start-up calls ``ProfileLint`` checks, with the base that covers them.
    public static let runtimes: [(runtime: String, base: String, syscalls: [String])] = [
        ("runc", "runc-v1.1.12", runcSyscalls),
        ("crun", "crun-v1.15", crunSyscalls),
    ]

    /// The calls of the runtime whose init process a seccomp log record came from: after it
    /// changed into the container's root its `exe` is `/`, and only its `comm` (`runc:[2:INIT]`,
    /// `crun`) tells which runtime it is. Nil for any other process.
    public static func runtimeSyscalls(executable: String, command: String) -> [String]? {
        guard executable == "/" else { return nil }
        if command.hasPrefix("runc:") { return runcSyscalls }
        if command == "crun" { return crunSyscalls }
        return nil
    }

    static func base(_ names: [String]) -> SeccompProfile.Spec {
        SeccompProfile.Spec(defaultAction: .errno, syscalls: [.init(names: names, action: .allow)])
    }
}
