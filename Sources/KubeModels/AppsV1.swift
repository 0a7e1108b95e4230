/// `apps/v1.DaemonSet`. The spec stays untyped, as for ``Pod``: the operator renders it and
/// compares it with ``JSONValue/isSemanticSubset(of:)``, so fields the API server defaults or
/// other tools add are never lost or fought over. The status is typed: rollouts are read from it.
public struct DaemonSet: KubeResource, Hashable {
    public static let group = "apps"
    public static let version = "v1"
    public static let kind = "DaemonSet"
    public static let plural = "daemonsets"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: JSONValue?
    public var status: DaemonSetStatus?

    public init(metadata: ObjectMeta, spec: JSONValue? = nil, status: DaemonSetStatus? = nil) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

/// `apps/v1.DaemonSetStatus`: how far the DaemonSet controller has rolled out the template.
public struct DaemonSetStatus: Codable, Hashable, Sendable {
    public var currentNumberScheduled: Int64?
    public var desiredNumberScheduled: Int64?
    public var numberAvailable: Int64?
    public var numberMisscheduled: Int64?
    public var numberReady: Int64?
    public var numberUnavailable: Int64?
    public var observedGeneration: Int64?
    public var updatedNumberScheduled: Int64?

    public init(
        desiredNumberScheduled: Int64? = nil, currentNumberScheduled: Int64? = nil, updatedNumberScheduled: Int64? = nil,
        numberReady: Int64? = nil, numberAvailable: Int64? = nil, numberUnavailable: Int64? = nil, observedGeneration: Int64? = nil
    ) {
        self.desiredNumberScheduled = desiredNumberScheduled
        self.currentNumberScheduled = currentNumberScheduled
        self.updatedNumberScheduled = updatedNumberScheduled
        self.numberReady = numberReady
        self.numberAvailable = numberAvailable
        self.numberUnavailable = numberUnavailable
        self.observedGeneration = observedGeneration
    }
}

extension DaemonSet {
    /// Whether the controller has rolled out the current generation to every scheduled node and
    /// all of them are available (what `kubectl rollout status ds` waits for).
    public var rolloutComplete: Bool {
        guard let status, let generation = metadata.generation, let observed = status.observedGeneration, observed >= generation else {
            return false
        }
        let desired = status.desiredNumberScheduled ?? 0
        return (status.updatedNumberScheduled ?? 0) >= desired && (status.numberAvailable ?? 0) >= desired
    }
}

/// `core/v1.Service`, with an untyped spec (the API server fills `clusterIP` and more). Named
/// apart from swift-service-lifecycle's `Service` protocol, which every role also uses.
public struct KubeService: KubeResource, Hashable {
    public static let group = ""
    public static let version = "v1"
    public static let kind = "Service"
    public static let plural = "services"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: JSONValue?

    public init(metadata: ObjectMeta, spec: JSONValue? = nil) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
    }
}

extension JSONValue {
    /// Whether every field set in `self` has the same value in `other`, recursively; arrays
    /// must have the same length with each element a subset. This is how a controller asks
    /// "does the live object still say what I rendered?" without being confused by fields the
    /// API server defaults (`protocol: TCP`, `terminationMessagePath`, ...).
    public func isSemanticSubset(of other: JSONValue) -> Bool {
        switch (self, other) {
        case (.object(let mine), .object(let theirs)):
            return mine.allSatisfy { key, value in
                if let theirValue = theirs[key] { return value.isSemanticSubset(of: theirValue) }
                return value.isEmptyValue
            }
        case (.array(let mine), .array(let theirs)):
            return mine.count == theirs.count && zip(mine, theirs).allSatisfy { $0.isSemanticSubset(of: $1) }
        case (.int(let mine), .double(let theirs)):
            return Double(mine) == theirs
        case (.double(let mine), .int(let theirs)):
            return mine == Double(theirs)
        default:
            return self == other || (isEmptyValue && other.isEmptyValue)
        }
    }

    /// `null`, `{}`, `[]`, `""`, `false` and `0`: what `omitempty` leaves out.
    var isEmptyValue: Bool {
        switch self {
        case .null: return true
        case .object(let fields): return fields.isEmpty
        case .array(let items): return items.isEmpty
        case .string(let text): return text.isEmpty
        case .bool(let flag): return !flag
        case .int(let number): return number == 0
        case .double(let number): return number == 0
        }
    }
}

/// `apps/v1.Deployment`, with an untyped spec as ``DaemonSet`` (rendered and compared with
/// ``JSONValue/isSemanticSubset(of:)``) and the status fields rollouts are read from.
public struct Deployment: KubeResource, Hashable {
    public static let group = "apps"
    public static let version = "v1"
    public static let kind = "Deployment"
    public static let plural = "deployments"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: JSONValue?
    public var status: JSONValue?

    public init(metadata: ObjectMeta, spec: JSONValue? = nil) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
    }
}
