import SPOAPI

/// Warnings about profiles that compile but are probably not what their author wants: risky
/// syscalls allowed, an allow-by-default profile that blocks nothing. Pure; `spoc validate`
/// prints them (and fails on them with `--strict`).
public enum ProfileLint {
    /// Syscalls that let a process escape or weaken its sandbox, load code into the kernel or
    /// attack it; container runtimes' default profiles deny them.
    public static let riskySyscalls: [String: String] = [
        "ptrace": "inspects and controls other processes",
        "process_vm_readv": "reads other processes' memory",
        "process_vm_writev": "writes other processes' memory",
        "bpf": "loads programs into the kernel",
        "perf_event_open": "observes the kernel and other processes",
        "mount": "changes the file system view",
        "umount2": "changes the file system view",
        "fsmount": "changes the file system view",
        "move_mount": "changes the file system view",
        "open_tree": "changes the file system view",
        "pivot_root": "changes the root file system",
        "chroot": "changes the root directory",
        "unshare": "creates namespaces (user namespaces expose kernel attack surface)",
        "setns": "joins other namespaces",
        "clone3": "creates namespaces without the flag checks clone gets",
        "keyctl": "manages kernel keyrings, which are not namespaced",
        "add_key": "adds kernel keys, which are not namespaced",
        "request_key": "requests kernel keys, which are not namespaced",
        "kexec_load": "replaces the running kernel",
        "kexec_file_load": "replaces the running kernel",
        "init_module": "loads kernel modules",
        "finit_module": "loads kernel modules",
        "delete_module": "unloads kernel modules",
        "userfaultfd": "is a common building block of kernel exploits",
        "reboot": "reboots the node",
        "swapon": "changes the node's swap",
        "swapoff": "changes the node's swap",
        "acct": "changes process accounting for the node",
        "settimeofday": "changes the node's clock",
        "clock_settime": "changes the node's clock",
        "adjtimex": "changes the node's clock",
        "iopl": "gives direct I/O port access",
        "ioperm": "gives direct I/O port access",
        "open_by_handle_at": "opens files by handle, past mount boundaries",
        "name_to_handle_at": "exposes file handles used to escape mounts",
        "lookup_dcookie": "reads kernel internals",
        "quotactl": "changes the node's quotas",
        "nfsservctl": "controls the kernel NFS server",
        "syslog": "reads and clears the kernel log",
        "vm86": "enters virtual 8086 mode",
        "vm86old": "enters virtual 8086 mode",
    ]

    /// Actions that let a syscall run.
    static let permitting: Set<String> = [SeccompAction.allow.rawValue, SeccompAction.log.rawValue]

    /// The warnings for a (base-resolved) profile, in a stable order.
    public static func warnings(for spec: SeccompProfile.Spec) -> [String] {
        var warnings: [String] = []
        let rules = spec.rulesByName
        let defaultAction = spec.defaultAction?.rawValue ?? ""
        let defaultPermits = permitting.contains(defaultAction)

        if defaultPermits {
            let blocking = rules.filter { _, rules in rules.contains { !permitting.contains($0.action) } }
            if blocking.isEmpty {
                warnings.append("defaultAction \(defaultAction) and no rule that denies anything: the profile blocks nothing")
            }
        }
        var byDefault: [String] = []
        for name in riskySyscalls.keys.sorted() {
            if let named = rules[name] {
                if named.contains(where: { permitting.contains($0.action) }) {
                    warnings.append("\(name) is allowed: it \(riskySyscalls[name]!)")
                } else if defaultPermits, named.allSatisfy({ !$0.args.isEmpty }) {
                    // Denied only under some argument condition, allowed otherwise.
                    byDefault.append(name)
                }
            } else if defaultPermits {
                byDefault.append(name)
            }
        }
        if !byDefault.isEmpty {
            warnings.append("\(byDefault.count) risky syscalls are allowed by the default action \(defaultAction): " + byDefault.joined(separator: ", "))
        }
        if let runtime = runtimeWarning(for: spec) { warnings.append(runtime) }
        for (name, named) in rules.sorted(by: { $0.key < $1.key }) {
            let actions = Set(named.filter { $0.args.isEmpty }.map(\.action))
            if actions.count > 1 {
                warnings.append("\(name) has unconditional rules with different actions (\(actions.sorted().joined(separator: ", "))); the kernel applies the most restrictive")
            }
        }
        return warnings
    }

    /// Default actions that deny a syscall no rule names.
    static let denying: Set<String> = [
        SeccompAction.errno.rawValue, SeccompAction.kill.rawValue, SeccompAction.killProcess.rawValue,
        SeccompAction.killThread.rawValue, SeccompAction.trap.rawValue,
    ]

    /// A runtime loads the container's filter before it execs the command (and, with
    /// no-new-privileges off, before it changes user, groups and capabilities): a denying
    /// profile that allows none of the built-in bases' calls for any runtime starts no container
    /// at all ("operation not permitted" from the runtime). Names what each runtime lacks.
    static func runtimeWarning(for spec: SeccompProfile.Spec) -> String? {
        guard denying.contains(spec.defaultAction?.rawValue ?? "") else { return nil }
        let rules = spec.rulesByName
        let missing = BuiltInProfiles.runtimes.map { runtime in
            (runtime, runtime.syscalls.filter { name in !(rules[name]?.contains { permitting.contains($0.action) } ?? false) })
        }
        guard missing.allSatisfy({ !$0.1.isEmpty }) else { return nil }
        let lists = missing.map { "\($0.0.runtime) needs \($0.1.joined(separator: ", "))" }.joined(separator: "; ")
        let bases = BuiltInProfiles.runtimes.map(\.base).joined(separator: " or ")
        return "defaultAction \(spec.defaultAction?.rawValue ?? "") denies what a container runtime calls after loading the filter, "
            + "so no container can start under this profile: \(lists); allow them or set baseProfileName: \(bases)"
    }
}
