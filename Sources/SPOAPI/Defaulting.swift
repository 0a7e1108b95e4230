import KubeModels

/// An API object whose unset fields have defaults, exactly those the CRDs declare, so an
/// object read from the API server and one defaulted here agree.
public protocol Defaultable {
    mutating func applyDefaults()
}

extension Defaultable {
    /// A copy with the defaults applied.
    public func defaulted() -> Self {
        var copy = self
        copy.applyDefaults()
        return copy
    }
}

extension SeccompProfile: Defaultable {
    public mutating func applyDefaults() {
        if spec != nil, spec?.disabled == nil { spec?.disabled = false }
    }
}

extension SelinuxProfile: Defaultable {
    /// The policy every SelinuxProfile inherits unless told otherwise.
    public static let defaultInherit = [PolicyRef(kind: .system, name: "container")]

    public mutating func applyDefaults() {
        guard var spec else { return }
        if spec.disabled == nil { spec.disabled = false }
        if spec.permissive == nil { spec.permissive = false }
        if spec.inherit == nil { spec.inherit = Self.defaultInherit }
        spec.inherit = spec.inherit?.map { reference in
            var reference = reference
            if reference.kind == nil { reference.kind = .system }
            return reference
        }
        self.spec = spec
    }
}

extension RawSelinuxProfile: Defaultable {
    public mutating func applyDefaults() {
        if spec != nil, spec?.disabled == nil { spec?.disabled = false }
    }
}

extension AppArmorProfile: Defaultable {
    public mutating func applyDefaults() {
        if spec != nil, spec?.disabled == nil { spec?.disabled = false }
    }
}

extension ProfileRecording: Defaultable {
    public mutating func applyDefaults() {
        guard var spec else { return }
        if spec.mergeStrategy == nil { spec.mergeStrategy = MergeStrategy.none }
        if spec.disableProfileAfterRecording == nil { spec.disableProfileAfterRecording = false }
        self.spec = spec
    }
}

extension ProfileBinding: Defaultable {
    public mutating func applyDefaults() {}
}

extension SecurityProfilesOperatorDaemon: Defaultable {
    public static let defaultName = "spod"
    public static let defaultSelinuxTypeTag = "spc_t"
    public static let defaultPriorityClassName = "system-node-critical"
    public static let defaultAllowedSystemProfiles = ["container"]

    /// Tolerations of the default object: run on control-plane nodes and on not-ready nodes.
    public static let defaultTolerations = [
        Toleration(key: "node-role.kubernetes.io/master", operator: "Exists", effect: "NoSchedule"),
        Toleration(key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule"),
        Toleration(key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute"),
    ]

    public mutating func applyDefaults() {
        var spec = self.spec ?? Spec()
        if spec.selinuxTypeTag == nil { spec.selinuxTypeTag = Self.defaultSelinuxTypeTag }
        if spec.priorityClassName == nil { spec.priorityClassName = Self.defaultPriorityClassName }
        if spec.selinuxOptions == nil { spec.selinuxOptions = SelinuxOptions() }
        if spec.selinuxOptions?.allowedSystemProfiles == nil {
            spec.selinuxOptions?.allowedSystemProfiles = Self.defaultAllowedSystemProfiles
        }
        self.spec = spec
    }

    /// The `spod` object the manager creates at start when none exists (reference §4.1).
    public static func defaultObject(namespace: String, staticWebhookConfig: Bool) -> SecurityProfilesOperatorDaemon {
        var spec = Spec()
        spec.verbosity = 0
        spec.hostProcVolumePath = "/proc"
        spec.priorityClassName = defaultPriorityClassName
        spec.selinuxOptions = SelinuxOptions(allowedSystemProfiles: defaultAllowedSystemProfiles)
        spec.staticWebhookConfig = staticWebhookConfig
        spec.disableOciArtifactSignatureVerification = false
        spec.tolerations = defaultTolerations
        return SecurityProfilesOperatorDaemon(
            metadata: ObjectMeta(name: defaultName, namespace: namespace, labels: [SPOMetadata.appLabel: SPOMetadata.appLabelValue]),
            spec: spec)
    }
}
