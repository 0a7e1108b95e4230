/// `core/v1.Namespace`.
public struct Namespace: KubeResource, Hashable {
    public static let group = ""
    public static let version = "v1"
    public static let kind = "Namespace"
    public static let plural = "namespaces"
    public static let namespaced = false

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta

    public init(metadata: ObjectMeta) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
    }
}

/// `core/v1.ConfigMap`.
public struct ConfigMap: KubeResource, Hashable {
    public static let group = ""
    public static let version = "v1"
    public static let kind = "ConfigMap"
    public static let plural = "configmaps"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var data: [String: String]?
    public var binaryData: [String: String]?

    public init(metadata: ObjectMeta, data: [String: String]? = nil) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.data = data
    }
}

/// `core/v1.Secret` (data values are base64 strings, as on the wire).
public struct Secret: KubeResource, Hashable {
    public static let group = ""
    public static let version = "v1"
    public static let kind = "Secret"
    public static let plural = "secrets"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var type: String?
    public var data: [String: String]?
    public var stringData: [String: String]?

    public init(metadata: ObjectMeta, type: String? = nil, data: [String: String]? = nil) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.type = type
        self.data = data
    }
}

/// `core/v1.Node`: the fields the operator reads (labels, addresses are in metadata/status).
public struct Node: KubeResource, Hashable {
    public static let group = ""
    public static let version = "v1"
    public static let kind = "Node"
    public static let plural = "nodes"
    public static let namespaced = false

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: JSONValue?
    public var status: JSONValue?

    public init(metadata: ObjectMeta) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
    }
}

/// `core/v1.Pod`. `spec` and `status` stay untyped so that nothing a user wrote is lost
/// when the operator reads and writes pods; typed accessors come with the features that need them.
public struct Pod: KubeResource, Hashable {
    public static let group = ""
    public static let version = "v1"
    public static let kind = "Pod"
    public static let plural = "pods"
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

/// `core/v1.ObjectReference`: which object an Event is about.
public struct ObjectReference: Codable, Hashable, Sendable {
    public var apiVersion: String?
    public var kind: String?
    public var namespace: String?
    public var name: String?
    public var uid: String?
    public var resourceVersion: String?
    public var fieldPath: String?

    public init(apiVersion: String? = nil, kind: String? = nil, namespace: String? = nil, name: String? = nil, uid: String? = nil, resourceVersion: String? = nil, fieldPath: String? = nil) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.resourceVersion = resourceVersion
        self.fieldPath = fieldPath
    }

    /// A reference to a typed object.
    public init<R: KubeResource>(to object: R) {
        self.init(apiVersion: R.apiVersion, kind: R.kind, namespace: object.metadata.namespace, name: object.metadata.name, uid: object.metadata.uid, resourceVersion: object.metadata.resourceVersion)
    }
}

/// `core/v1.EventSource`.
public struct EventSource: Codable, Hashable, Sendable {
    public var component: String?
    public var host: String?

    public init(component: String? = nil, host: String? = nil) {
        self.component = component
        self.host = host
    }
}

/// `core/v1.Event`: what `kubectl describe` and `kubectl get events` show.
public struct Event: KubeResource, Hashable {
    public static let group = ""
    public static let version = "v1"
    public static let kind = "Event"
    public static let plural = "events"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var involvedObject: ObjectReference
    public var reason: String?
    public var message: String?
    /// `Normal` or `Warning`.
    public var type: String?
    public var source: EventSource?
    public var count: Int?
    public var firstTimestamp: String?
    public var lastTimestamp: String?
    public var reportingComponent: String?
    public var reportingInstance: String?

    public init(metadata: ObjectMeta, involvedObject: ObjectReference, reason: String?, message: String?, type: String?) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.involvedObject = involvedObject
        self.reason = reason
        self.message = message
        self.type = type
    }
}

/// `coordination.k8s.io/v1.Lease`: the lock object of leader election.
public struct Lease: KubeResource, Hashable {
    public static let group = "coordination.k8s.io"
    public static let version = "v1"
    public static let kind = "Lease"
    public static let plural = "leases"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: LeaseSpec?

    public init(metadata: ObjectMeta, spec: LeaseSpec? = nil) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
    }
}

/// `coordination.k8s.io/v1.LeaseSpec`. Times are `MicroTime` strings.
public struct LeaseSpec: Codable, Hashable, Sendable {
    public var holderIdentity: String?
    public var leaseDurationSeconds: Int?
    public var acquireTime: String?
    public var renewTime: String?
    public var leaseTransitions: Int?

    public init(holderIdentity: String? = nil, leaseDurationSeconds: Int? = nil, acquireTime: String? = nil, renewTime: String? = nil, leaseTransitions: Int? = nil) {
        self.holderIdentity = holderIdentity
        self.leaseDurationSeconds = leaseDurationSeconds
        self.acquireTime = acquireTime
        self.renewTime = renewTime
        self.leaseTransitions = leaseTransitions
    }
}
