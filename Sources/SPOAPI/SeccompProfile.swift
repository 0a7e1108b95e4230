import KubeModels

/// A seccomp action (`SCMP_ACT_*`), for `defaultAction` and syscall rules.
public struct SeccompAction: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let kill: Self = "SCMP_ACT_KILL"
    public static let killProcess: Self = "SCMP_ACT_KILL_PROCESS"
    public static let killThread: Self = "SCMP_ACT_KILL_THREAD"
    public static let trap: Self = "SCMP_ACT_TRAP"
    public static let errno: Self = "SCMP_ACT_ERRNO"
    public static let trace: Self = "SCMP_ACT_TRACE"
    public static let allow: Self = "SCMP_ACT_ALLOW"
    public static let log: Self = "SCMP_ACT_LOG"
    public static let notify: Self = "SCMP_ACT_NOTIFY"
    public static let allowed: [Self] = [.kill, .killProcess, .killThread, .trap, .errno, .trace, .allow, .log, .notify]
}

/// A seccomp architecture (`SCMP_ARCH_*`).
public struct SeccompArchitecture: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let allowed: [Self] = [
        "SCMP_ARCH_NATIVE", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
    ]
}

/// A syscall-argument comparison operator (`SCMP_CMP_*`).
public struct SeccompOperator: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let allowed: [Self] = [
        "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
    ]
}

/// A seccomp(2) filter flag.
public struct SeccompFlag: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let allowed: [Self] = [
        "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    ]
}

/// `SeccompProfile` (`v1beta1`): a seccomp profile the daemon installs on every node as
/// `operator/<namespace>/<name>.json` under the kubelet's seccomp directory.
public struct SeccompProfile: KubeResource, Hashable {
    public static let group = SPOGroup.name
    public static let version = "v1beta1"
    public static let kind = "SeccompProfile"
    public static let plural = "seccompprofiles"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: Status?

    public init(metadata: ObjectMeta, spec: Spec) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
    }

    /// What the profile allows and denies. Only `defaultAction` is required.
    public struct Spec: Codable, Hashable, Sendable {
        public var disabled: Bool?
        /// A SeccompProfile in the same namespace (or `oci://<ref>`) whose syscalls are unioned in.
        public var baseProfileName: String?
        public var defaultAction: SeccompAction?
        public var architectures: [SeccompArchitecture]?
        public var listenerPath: String?
        public var listenerMetadata: String?
        public var syscalls: [Syscall]?
        public var flags: [SeccompFlag]?

        public init(
            defaultAction: SeccompAction?, disabled: Bool? = nil, baseProfileName: String? = nil,
            architectures: [SeccompArchitecture]? = nil, syscalls: [Syscall]? = nil, flags: [SeccompFlag]? = nil
        ) {
            self.defaultAction = defaultAction
            self.disabled = disabled
            self.baseProfileName = baseProfileName
            self.architectures = architectures
            self.syscalls = syscalls
            self.flags = flags
        }
    }

    /// One rule: the action for a set of syscalls, optionally narrowed by argument filters.
    public struct Syscall: Codable, Hashable, Sendable {
        public var names: [String]?
        public var action: SeccompAction?
        public var errnoRet: Int64?
        public var args: [Arg]?

        public init(names: [String], action: SeccompAction, errnoRet: Int64? = nil, args: [Arg]? = nil) {
            self.names = names
            self.action = action
            self.errnoRet = errnoRet
            self.args = args
        }
    }

    /// A filter on one syscall argument.
    public struct Arg: Codable, Hashable, Sendable {
        public var index: Int64?
        public var value: Int64?
        public var valueTwo: Int64?
        public var op: SeccompOperator?

        public init(index: Int64, value: Int64? = nil, valueTwo: Int64? = nil, op: SeccompOperator) {
            self.index = index
            self.value = value
            self.valueTwo = valueTwo
            self.op = op
        }
    }

    public struct Status: Codable, Hashable, Sendable {
        public var status: ProfileState?
        public var conditions: [Condition]?
        /// `operator/<namespace>/<name>.json`, the value for `securityContext.seccompProfile.localhostProfile`.
        public var localhostProfile: String?
        /// `<podNamespace>/<podName>` of pods using the profile.
        public var activeWorkloads: [String]?
        /// Declared by the upstream API and never set.
        public var path: String?

        public init(status: ProfileState? = nil, conditions: [Condition]? = nil, localhostProfile: String? = nil, activeWorkloads: [String]? = nil) {
            self.status = status
            self.conditions = conditions
            self.localhostProfile = localhostProfile
            self.activeWorkloads = activeWorkloads
        }
    }
}

extension SeccompProfile {
    /// Where the installed file lives relative to the kubelet's seccomp directory, which is also
    /// the `localhostProfile` pods name and the profile's `status.localhostProfile`:
    /// `operator/<namespace>/<name>.json`. A name already ending in `.json` gets no second suffix.
    public static func localhostProfile(namespace: String, name: String) -> String {
        "operator/\(namespace)/\(name.hasSuffix(".json") ? name : name + ".json")"
    }
}
