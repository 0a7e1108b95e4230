/// One security audit record of the kernel, as read from auditd's log, syslog or `/dev/kmsg`:
/// a seccomp action that logs (`type=1326`/`SECCOMP`), an SELinux AVC, or an AppArmor decision.
public struct AuditEvent: Hashable, Sendable {
    /// What produced the record, with the fields that only that kind carries.
    public enum Details: Hashable, Sendable {
        /// `syscall` as the kernel numbers it for `arch` (the `AUDIT_ARCH_*` value, nil when the
        /// line has none).
        case seccomp(syscall: Int32, arch: UInt32?)
        /// The permissions of `{ ... }`, and the source and target contexts and class.
        case selinux(permissions: [String], scontext: String, tcontext: String, tclass: String)
        /// The `apparmor="..."` verdict, `operation`, `profile`, `name`, and the rest of the line
        /// after `comm` (double quotes turned into single quotes), nil when nothing follows.
        case apparmor(verdict: String, operation: String, profile: String, name: String, extra: String?)
    }

    /// The `<epoch>.<ms>:<serial>` inside `audit(...)`; with the node, it identifies the record.
    public var timestamp: String
    /// The process in the host PID namespace.
    public var pid: Int32
    /// `exe` for seccomp, `comm` for AppArmor, `exe` or `comm` for SELinux (empty when absent).
    public var executable: String
    public var details: Details
    /// `comm` of a seccomp record whose `exe` is `/` (empty otherwise): a container runtime's
    /// init process after it changed into the container's root, which only its `comm` names
    /// (`runc:[2:INIT]`, `crun`). Not kept for other records, which never need it.
    public var command: String

    public init(timestamp: String, pid: Int32, executable: String, details: Details, command: String = "") {
        self.timestamp = timestamp
        self.pid = pid
        self.executable = executable
        self.details = details
        self.command = command
    }

    /// The value of the `type` output field: `seccomp`, `selinux` or `apparmor`.
    public var typeName: String {
        switch details {
        case .seccomp: "seccomp"
        case .selinux: "selinux"
        case .apparmor: "apparmor"
        }
    }
}
