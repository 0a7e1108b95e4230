import KubeModels

/// The `spod` state.
public struct SPODState: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let pending: Self = "PENDING"
    public static let creating: Self = "CREATING"
    public static let updating: Self = "UPDATING"
    public static let running: Self = "RUNNING"
    public static let error: Self = "ERROR"
    public static let allowed: [Self] = [.pending, .creating, .updating, .running, .error]
}

/// A webhook's failure policy.
public struct FailurePolicy: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let fail: Self = "Fail"
    public static let ignore: Self = "Ignore"
    public static let allowed: [Self] = [.fail, .ignore]
}

/// `SecurityProfilesOperatorDaemon` (`v1alpha1`, short name `spod`): the operator's
/// configuration, which the manager renders into the per-node DaemonSet. Its spec is flat, as in
/// v0.8, so `kubectl patch spod spod --type merge -p '{"spec":{...}}'` works unchanged.
public struct SecurityProfilesOperatorDaemon: KubeResource, Hashable {
    public static let group = SPOGroup.name
    public static let version = "v1alpha1"
    public static let kind = "SecurityProfilesOperatorDaemon"
    public static let plural = "securityprofilesoperatordaemons"
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

    public struct Spec: Codable, Hashable, Sendable {
        public var verbosity: Int64?
        public var enableProfiling: Bool?
        public var enableMemoryOptimization: Bool?
        /// `nil` means "on if the cluster is OpenShift".
        public var enableSelinux: Bool?
        /// Default `spc_t`.
        public var selinuxTypeTag: String?
        public var enableLogEnricher: Bool?
        public var enableBpfRecorder: Bool?
        public var enableAppArmor: Bool?
        public var tolerations: [Toleration]?
        public var selinuxOptions: SelinuxOptions?
        public var hostProcVolumePath: String?
        public var staticWebhookConfig: Bool?
        public var webhookOptions: [WebhookOptions]?
        public var allowedSyscalls: [String]?
        public var allowedSeccompActions: [String]?
        /// `core/v1.Affinity`, copied to the DaemonSet's pod template as written.
        public var affinity: JSONValue?
        public var imagePullSecrets: [LocalObjectReference]?
        public var daemonResourceRequirements: ResourceRequirements?
        /// Default `system-node-critical`.
        public var priorityClassName: String?
        public var disableOciArtifactSignatureVerification: Bool?

        public init() {}
    }

    public struct SelinuxOptions: Codable, Hashable, Sendable {
        /// System policies a SelinuxProfile may inherit; default `[container]`.
        public var allowedSystemProfiles: [String]?

        public init(allowedSystemProfiles: [String]? = nil) { self.allowedSystemProfiles = allowedSystemProfiles }
    }

    /// Tuning of one built-in admission webhook (`binding.spo.io`, `recording.spo.io`).
    public struct WebhookOptions: Codable, Hashable, Sendable {
        public var name: String?
        public var failurePolicy: FailurePolicy?
        public var namespaceSelector: LabelSelector?
        public var objectSelector: LabelSelector?

        public init(name: String, failurePolicy: FailurePolicy? = nil, namespaceSelector: LabelSelector? = nil, objectSelector: LabelSelector? = nil) {
            self.name = name
            self.failurePolicy = failurePolicy
            self.namespaceSelector = namespaceSelector
            self.objectSelector = objectSelector
        }
    }

    public struct Status: Codable, Hashable, Sendable {
        public var state: SPODState?
        public var conditions: [Condition]?

        public init(state: SPODState? = nil, conditions: [Condition]? = nil) {
            self.state = state
            self.conditions = conditions
        }
    }
}
