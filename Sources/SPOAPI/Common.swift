import KubeModels

/// The API group of every kind this operator serves.
public enum SPOGroup {
    public static let name = "security-profiles-operator.x-k8s.io"
}

/// A string enumeration of the API that decodes any value, so that an unknown value reaches
/// validation (which names the field and the allowed values) instead of failing the whole
/// object's decoding, as Kubernetes' own string enums behave.
public protocol OpenEnum: RawRepresentable, Codable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible
where RawValue == String {
    init(rawValue: String)
    /// Every value the API accepts, in the reference's order.
    static var allowed: [Self] { get }
}

extension OpenEnum {
    public init(stringLiteral value: String) { self.init(rawValue: value) }

    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// Whether the value is one the API accepts.
    public var isAllowed: Bool { Self.allowed.contains(self) }

    public var description: String { rawValue }
}

/// The installation state of a profile on one node or, aggregated, across nodes.
public struct ProfileState: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let pending: Self = "Pending"
    public static let inProgress: Self = "InProgress"
    public static let installed: Self = "Installed"
    public static let terminating: Self = "Terminating"
    public static let error: Self = "Error"
    public static let partial: Self = "Partial"
    public static let disabled: Self = "Disabled"
    public static let allowed: [Self] = [.pending, .inProgress, .installed, .terminating, .error, .partial, .disabled]
}

/// The status every profile kind shares: the aggregated state and the `Ready` condition.
public struct ProfileStatusBase: Codable, Hashable, Sendable {
    public var status: ProfileState?
    public var conditions: [Condition]?

    public init(status: ProfileState? = nil, conditions: [Condition]? = nil) {
        self.status = status
        self.conditions = conditions
    }
}

/// Labels, annotations and finalizers the operator reads and writes (reference §1-§2).
public enum SPOMetadata {
    public static let appLabel = "app"
    public static let appLabelValue = "security-profiles-operator"
    public static let profileIDLabel = "spo.x-k8s.io/profile-id"
    public static let partialLabel = "spo.x-k8s.io/partial"
    public static let nodeNameLabel = "spo.x-k8s.io/node-name"
    public static let profileStateLabel = "spo.x-k8s.io/profile-state"
    public static let profileKindLabel = "spo.x-k8s.io/profile-kind"
    public static let recordingIDLabel = "spo.x-k8s.io/recording-id"
    public static let containerIDLabel = "spo.x-k8s.io/container-id"
    public static let syscallsAnnotation = "syscalls"
    /// On a node status: why the node could not install the profile. This project's addition,
    /// which the manager copies into the profile's `Ready` condition.
    public static let statusMessageAnnotation = "spo.x-k8s.io/status-message"
    public static let inUseFinalizer = "in-use-by-active-pods"
    public static let partialProfileFinalizer = "spo.x-k8s.io/partial-profile-finalizer"
    public static let activeWorkloadFinalizer = "active-workload-lock"
    public static let recordingLockFinalizer = "active-seccomp-profile-recording-lock"
    public static let unmergedProfilesFinalizer = "spo.x-k8s.io/has-unmerged-profiles"
}

/// `core/v1.Toleration`.
public struct Toleration: Codable, Hashable, Sendable {
    public var key: String?
    public var `operator`: String?
    public var value: String?
    public var effect: String?
    public var tolerationSeconds: Int64?

    public init(key: String? = nil, operator: String? = nil, value: String? = nil, effect: String? = nil, tolerationSeconds: Int64? = nil) {
        self.key = key
        self.operator = `operator`
        self.value = value
        self.effect = effect
        self.tolerationSeconds = tolerationSeconds
    }
}

/// `core/v1.LocalObjectReference`.
public struct LocalObjectReference: Codable, Hashable, Sendable {
    public var name: String?

    public init(name: String? = nil) { self.name = name }
}

/// A resource quantity (`250m`, `512Mi`, `1`). Users may write a number; it is kept as the
/// string the API server would store.
public struct Quantity: Codable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var value: String

    public init(_ value: String) { self.value = value }
    public init(stringLiteral value: String) { self.value = value }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            value = text
        } else if let integer = try? container.decode(Int64.self) {
            value = String(integer)
        } else {
            value = String(try container.decode(Double.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    public var description: String { value }
}

/// `core/v1.ResourceRequirements`.
public struct ResourceRequirements: Codable, Hashable, Sendable {
    public struct Claim: Codable, Hashable, Sendable {
        public var name: String?
        public var request: String?
    }

    public var limits: [String: Quantity]?
    public var requests: [String: Quantity]?
    public var claims: [Claim]?

    public init(limits: [String: Quantity]? = nil, requests: [String: Quantity]? = nil) {
        self.limits = limits
        self.requests = requests
    }
}
