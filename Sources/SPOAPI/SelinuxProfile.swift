import KubeModels

/// Where a SelinuxProfile inherits from: a `System` policy installed on the node or another
/// `SelinuxProfile` in the same namespace.
public struct SelinuxPolicyKind: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let system: Self = "System"
    public static let selinuxProfile: Self = "SelinuxProfile"
    public static let allowed: [Self] = [.system, .selinuxProfile]
}

/// The status of both SELinux kinds.
public struct SelinuxProfileStatus: Codable, Hashable, Sendable {
    public var status: ProfileState?
    public var conditions: [Condition]?
    /// `<name>_<namespace>.process`, the value for `seLinuxOptions.type`.
    public var usage: String?
    public var activeWorkloads: [String]?

    public init(status: ProfileState? = nil, conditions: [Condition]? = nil, usage: String? = nil, activeWorkloads: [String]? = nil) {
        self.status = status
        self.conditions = conditions
        self.usage = usage
        self.activeWorkloads = activeWorkloads
    }
}

/// `SelinuxProfile` (`v1alpha2`): an SELinux policy described by allow rules, compiled to CIL
/// and installed as module `<name>_<namespace>`.
public struct SelinuxProfile: KubeResource, Hashable {
    public static let group = SPOGroup.name
    public static let version = "v1alpha2"
    public static let kind = "SelinuxProfile"
    public static let plural = "selinuxprofiles"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: SelinuxProfileStatus?

    public init(metadata: ObjectMeta, spec: Spec) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
    }

    public struct Spec: Codable, Hashable, Sendable {
        public var disabled: Bool?
        /// Default `[{kind: System, name: container}]`.
        public var inherit: [PolicyRef]?
        public var permissive: Bool?
        /// label → object class → permissions; the label `@self` is this profile's own type.
        public var allow: [String: [String: [String]]]?

        public init(disabled: Bool? = nil, inherit: [PolicyRef]? = nil, permissive: Bool? = nil, allow: [String: [String: [String]]]? = nil) {
            self.disabled = disabled
            self.inherit = inherit
            self.permissive = permissive
            self.allow = allow
        }
    }

    public struct PolicyRef: Codable, Hashable, Sendable {
        /// Default `System`.
        public var kind: SelinuxPolicyKind?
        public var name: String?

        public init(kind: SelinuxPolicyKind? = nil, name: String) {
            self.kind = kind
            self.name = name
        }
    }
}

/// `RawSelinuxProfile` (`v1alpha2`): an SELinux policy given as a CIL body, installed as is.
public struct RawSelinuxProfile: KubeResource, Hashable {
    public static let group = SPOGroup.name
    public static let version = "v1alpha2"
    public static let kind = "RawSelinuxProfile"
    public static let plural = "rawselinuxprofiles"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: SelinuxProfileStatus?

    public init(metadata: ObjectMeta, spec: Spec) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
    }

    public struct Spec: Codable, Hashable, Sendable {
        public var disabled: Bool?
        /// The CIL body, without the outer block.
        public var policy: String?

        public init(disabled: Bool? = nil, policy: String) {
            self.disabled = disabled
            self.policy = policy
        }
    }
}

/// `AppArmorProfile` (`v1alpha1`): an AppArmor policy loaded on every node.
public struct AppArmorProfile: KubeResource, Hashable {
    public static let group = SPOGroup.name
    public static let version = "v1alpha1"
    public static let kind = "AppArmorProfile"
    public static let plural = "apparmorprofiles"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: ProfileStatusBase?

    public init(metadata: ObjectMeta, spec: Spec) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
    }

    /// Either `policy` (profile text) or `abstract` (rules the operator turns into text).
    public struct Spec: Codable, Hashable, Sendable {
        public var disabled: Bool?
        /// The AppArmor policy text.
        public var policy: String?
        /// What the profile allows, without AppArmor syntax.
        public var abstract: Abstract?

        public init(disabled: Bool? = nil, policy: String) {
            self.disabled = disabled
            self.policy = policy
        }

        public init(disabled: Bool? = nil, abstract: Abstract) {
            self.disabled = disabled
            self.abstract = abstract
        }
    }

    /// Allow rules by topic; anything not allowed is denied.
    public struct Abstract: Codable, Hashable, Sendable {
        public var executable: Executables?
        public var filesystem: Filesystem?
        public var network: Network?
        public var capability: Capabilities?

        public init(executable: Executables? = nil, filesystem: Filesystem? = nil, network: Network? = nil, capability: Capabilities? = nil) {
            self.executable = executable
            self.filesystem = filesystem
            self.network = network
            self.capability = capability
        }
    }

    /// Programs the profile may run (inheriting the profile) and libraries it may map.
    public struct Executables: Codable, Hashable, Sendable {
        public var allowedExecutables: [String]?
        public var allowedLibraries: [String]?

        public init(allowedExecutables: [String]? = nil, allowedLibraries: [String]? = nil) {
            self.allowedExecutables = allowedExecutables
            self.allowedLibraries = allowedLibraries
        }
    }

    /// Paths (AppArmor globs allowed) by access.
    public struct Filesystem: Codable, Hashable, Sendable {
        public var readOnlyPaths: [String]?
        public var writeOnlyPaths: [String]?
        public var readWritePaths: [String]?

        public init(readOnlyPaths: [String]? = nil, writeOnlyPaths: [String]? = nil, readWritePaths: [String]? = nil) {
            self.readOnlyPaths = readOnlyPaths
            self.writeOnlyPaths = writeOnlyPaths
            self.readWritePaths = readWritePaths
        }
    }

    /// Sockets the profile may use.
    public struct Network: Codable, Hashable, Sendable {
        public var allowRaw: Bool?
        public var allowedProtocols: Protocols?

        public init(allowRaw: Bool? = nil, allowedProtocols: Protocols? = nil) {
            self.allowRaw = allowRaw
            self.allowedProtocols = allowedProtocols
        }
    }

    public struct Protocols: Codable, Hashable, Sendable {
        public var allowTcp: Bool?
        public var allowUdp: Bool?

        public init(allowTcp: Bool? = nil, allowUdp: Bool? = nil) {
            self.allowTcp = allowTcp
            self.allowUdp = allowUdp
        }
    }

    /// Linux capabilities by AppArmor name (`net_bind_service`).
    public struct Capabilities: Codable, Hashable, Sendable {
        public var allowedCapabilities: [String]?

        public init(allowedCapabilities: [String]? = nil) {
            self.allowedCapabilities = allowedCapabilities
        }
    }
}
