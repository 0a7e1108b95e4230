import KubeModels

/// The kind of profile a recording produces, or a binding refers to.
public struct ProfileKind: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let seccompProfile: Self = "SeccompProfile"
    public static let selinuxProfile: Self = "SelinuxProfile"
    public static let allowed: [Self] = [.seccompProfile, .selinuxProfile]
}

/// The kind of profile a ProfileBinding applies: upstream's two, and beyond upstream
/// AppArmorProfiles (set as the pod's GA `securityContext.appArmorProfile`).
public struct BoundProfileKind: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let seccompProfile: Self = "SeccompProfile"
    public static let selinuxProfile: Self = "SelinuxProfile"
    public static let appArmorProfile: Self = "AppArmorProfile"
    public static let allowed: [Self] = [.seccompProfile, .selinuxProfile, .appArmorProfile]
}

/// The backend that records a profile.
public struct ProfileRecorder: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let bpf: Self = "bpf"
    public static let logs: Self = "logs"
    public static let allowed: [Self] = [.bpf, .logs]
}

/// How the profiles of several replicas are combined.
public struct MergeStrategy: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let none: Self = "none"
    public static let containers: Self = "containers"
    public static let allowed: [Self] = [.none, .containers]
}

/// Pod-name list status shared by recordings and bindings.
public struct ActiveWorkloadsStatus: Codable, Hashable, Sendable {
    public var activeWorkloads: [String]?

    public init(activeWorkloads: [String]? = nil) { self.activeWorkloads = activeWorkloads }
}

/// A ProfileRecording's status: the pods being recorded and, beyond upstream, the profiles the
/// recording produced.
public struct RecordingStatus: Codable, Hashable, Sendable {
    /// Names of the pods being recorded (not namespace-qualified, as upstream).
    public var activeWorkloads: [String]?
    /// Names of the profiles (of the recording's kind, in its namespace) it produced so far.
    public var profiles: [String]?

    public init(activeWorkloads: [String]? = nil, profiles: [String]? = nil) {
        self.activeWorkloads = activeWorkloads
        self.profiles = profiles
    }
}

/// `ProfileRecording` (`v1alpha1`): records a profile from the pods a selector matches.
public struct ProfileRecording: KubeResource, Hashable {
    public static let group = SPOGroup.name
    public static let version = "v1alpha1"
    public static let kind = "ProfileRecording"
    public static let plural = "profilerecordings"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: RecordingStatus?

    public init(metadata: ObjectMeta, spec: Spec) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
    }

    public struct Spec: Codable, Hashable, Sendable {
        public var kind: ProfileKind?
        public var recorder: ProfileRecorder?
        /// Default `none`.
        public var mergeStrategy: MergeStrategy?
        /// Pods to record; an empty selector selects every pod of the namespace.
        public var podSelector: LabelSelector?
        /// Only these containers; all when absent.
        public var containers: [String]?
        public var disableProfileAfterRecording: Bool?

        public init(kind: ProfileKind, recorder: ProfileRecorder, podSelector: LabelSelector, mergeStrategy: MergeStrategy? = nil, containers: [String]? = nil) {
            self.kind = kind
            self.recorder = recorder
            self.podSelector = podSelector
            self.mergeStrategy = mergeStrategy
            self.containers = containers
        }
    }
}

/// `ProfileBinding` (`v1alpha1`): applies a profile to every new pod container running an image.
public struct ProfileBinding: KubeResource, Hashable {
    public static let group = SPOGroup.name
    public static let version = "v1alpha1"
    public static let kind = "ProfileBinding"
    public static let plural = "profilebindings"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: ActiveWorkloadsStatus?

    public init(metadata: ObjectMeta, spec: Spec) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
    }

    public struct Spec: Codable, Hashable, Sendable {
        public var profileRef: ProfileRef?
        /// The exact image string to match, or `*` for every image.
        public var image: String?

        public init(profileRef: ProfileRef, image: String) {
            self.profileRef = profileRef
            self.image = image
        }
    }

    public struct ProfileRef: Codable, Hashable, Sendable {
        public var kind: BoundProfileKind?
        public var name: String?

        public init(kind: BoundProfileKind, name: String) {
            self.kind = kind
            self.name = name
        }
    }
}

/// `SecurityProfileNodeStatus` (`v1alpha1`): one node's state of one profile. Its fields are
/// top level (there is no status subresource).
public struct SecurityProfileNodeStatus: KubeResource, Hashable {
    public static let group = SPOGroup.name
    public static let version = "v1alpha1"
    public static let kind = "SecurityProfileNodeStatus"
    public static let plural = "securityprofilenodestatuses"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var nodeName: String?
    public var status: ProfileState?
    /// Always an empty object.
    public var spec: JSONValue?

    public init(metadata: ObjectMeta, nodeName: String, status: ProfileState) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.nodeName = nodeName
        self.status = status
    }
}
