/// The operator's own Prometheus counters (reference §7.2): names, help texts and label names
/// exactly as upstream's dashboards and alerts know them. Every producer and the metrics
/// server take them from here.
public enum OperatorMetric: String, CaseIterable, Sendable {
    case seccompProfile = "security_profiles_operator_seccomp_profile_total"
    case seccompProfileError = "security_profiles_operator_seccomp_profile_error_total"
    case seccompProfileAudit = "security_profiles_operator_seccomp_profile_audit_total"
    case seccompProfileBPF = "security_profiles_operator_seccomp_profile_bpf_total"
    case selinuxProfile = "security_profiles_operator_selinux_profile_total"
    case selinuxProfileError = "security_profiles_operator_selinux_profile_error_total"
    case selinuxProfileAudit = "security_profiles_operator_selinux_profile_audit_total"
    case appArmorProfile = "security_profiles_operator_apparmor_profile_total"
    case appArmorProfileError = "security_profiles_operator_apparmor_profile_error_total"
    case appArmorProfileAudit = "security_profiles_operator_apparmor_profile_audit_total"
    /// Beyond upstream: audit records that never reached the log enricher (the kernel's printk
    /// rate limit, the audit backlog, an overrun kernel log buffer).
    case auditRecordsLost = "security_profiles_operator_audit_records_lost_total"
    /// Beyond upstream: audit records of container processes that exited before the log
    /// enricher could tell their container (no `/proc` entry left, no parent seen).
    case auditRecordsUnattributed = "security_profiles_operator_audit_records_unattributed_total"

    /// The family's name in the exposition.
    public var name: String { rawValue }

    /// The label names, in upstream's order.
    public var labelNames: [String] {
        switch self {
        case .seccompProfile, .selinuxProfile, .appArmorProfile: [Label.operation]
        case .seccompProfileError, .selinuxProfileError, .appArmorProfileError: [Label.reason]
        case .seccompProfileAudit, .appArmorProfileAudit:
            [Label.node, Label.namespace, Label.pod, Label.container, Label.executable, Label.syscall]
        case .selinuxProfileAudit:
            [Label.node, Label.namespace, Label.pod, Label.container, Label.executable, Label.scontext, Label.tcontext]
        case .seccompProfileBPF: [Label.node, Label.mountNamespace, Label.profile]
        case .auditRecordsLost, .auditRecordsUnattributed: [Label.source]
        }
    }

    /// The `# HELP` text.
    public var help: String {
        switch self {
        case .seccompProfile: "Counter about seccomp profile operations."
        case .seccompProfileError: "Counter about seccomp profile errors."
        case .seccompProfileAudit: "Counter about seccomp profile audits, requires the log enricher to be enabled."
        case .seccompProfileBPF: "Counter about seccomp profile bpf events, requires the bpf recorder to be enabled."
        case .selinuxProfile: "Counter about selinux profile operations."
        case .selinuxProfileError: "Counter about selinux profile errors."
        case .selinuxProfileAudit: "Counter about selinux profile audits, requires the log enricher to be enabled."
        case .appArmorProfile: "Counter about apparmor profile operations."
        case .appArmorProfileError: "Counter about apparmor profile errors."
        case .appArmorProfileAudit: "Counter about apparmor profile audits, requires the log enricher to be enabled."
        case .auditRecordsLost: "Counter about audit records lost before the log enricher read them, requires the log enricher to be enabled."
        case .auditRecordsUnattributed: "Counter about audit records of processes that exited before the log enricher found their container, requires the log enricher to be enabled."
        }
    }

    /// Label names.
    public enum Label {
        public static let operation = "operation"
        public static let reason = "reason"
        public static let node = "node"
        public static let namespace = "namespace"
        public static let pod = "pod"
        public static let container = "container"
        public static let executable = "executable"
        public static let syscall = "syscall"
        public static let scontext = "scontext"
        public static let tcontext = "tcontext"
        public static let mountNamespace = "mount_namespace"
        public static let profile = "profile"
        public static let source = "source"
    }

    /// Values of the `operation` label.
    public enum Operation: String, Sendable {
        case update
        case delete
    }

    /// Values of `seccomp_profile_error_total{reason}`.
    public enum SeccompErrorReason: String, CaseIterable, Sendable {
        case notSupportedOnNode = "SeccompNotSupportedOnNode"
        case invalidProfile = "InvalidSeccompProfile"
        case cannotPull = "CannotPullSeccompProfile"
        case notAllowed = "ProfileNotAllowed"
        case cannotSave = "CannotSaveSeccompProfile"
        case cannotRemove = "CannotRemoveSeccompProfile"
        case cannotUpdate = "CannotUpdateSeccompProfile"
        case cannotUpdateNodeStatus = "CannotUpdateNodeStatus"
    }

    /// Values of `selinux_profile_error_total{reason}` this operator reports (upstream's
    /// selinuxd-only reasons have no counterpart without selinuxd).
    public enum SelinuxErrorReason: String, CaseIterable, Sendable {
        /// Validation failed or the policy store refused the module.
        case cannotSave = "CannotSaveSelinuxPolicy"
        /// The installed modules could not be read from the policy store.
        case cannotGetStatus = "CannotGetPolicyStatus"
        /// The node status could not be written.
        case cannotUpdateStatus = "CannotUpdatePolicyStatus"
        case cannotRemove = "CannotRemoveSelinuxPolicy"
    }

    /// Values of `apparmor_profile_error_total{reason}`.
    public enum AppArmorErrorReason: String, CaseIterable, Sendable {
        case notSupportedOnNode = "AppArmorNotSupportedOnNode"
        case cannotLoad = "CannotLoadAppArmorProfile"
        case cannotUnload = "CannotUnloadAppArmorProfile"
        case cannotUpdate = "CannotUpdateAppArmorProfile"
        case cannotUpdateNodeStatus = "CannotUpdateNodeStatus"
    }
}
