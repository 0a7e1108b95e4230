/// A Kubernetes resource type the typed client can address: where it lives in the API
/// (group, version, plural) and whether it is namespaced.
///
/// Conform a `Codable` model to this protocol to get every verb of the client for it.
public protocol KubeResource: Codable, Sendable {
    /// API group; `""` for the core group.
    static var group: String { get }
    static var version: String { get }
    static var kind: String { get }
    /// The lower-case plural used in URLs, e.g. `pods`.
    static var plural: String { get }
    static var namespaced: Bool { get }

    var apiVersion: String? { get set }
    var kind: String? { get set }
    var metadata: ObjectMeta { get set }
}

extension KubeResource {
    /// `group/version`, or only the version for the core group.
    public static var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// The identity of the resource type in the API.
    public static var resource: GroupVersionResource {
        GroupVersionResource(group: group, version: version, resource: plural, kind: kind, namespaced: namespaced)
    }

    /// `namespace/name` (or `name` for cluster-scoped objects): the key caches and queues use.
    public var key: ObjectKey { ObjectKey(namespace: metadata.namespace, name: metadata.name ?? "") }

    /// Fills in `apiVersion` and `kind` when a caller left them empty.
    public mutating func setTypeMeta() {
        apiVersion = Self.apiVersion
        kind = Self.kind
    }
}

/// Where a resource type lives in the API: group, version, plural resource name, kind, scope.
public struct GroupVersionResource: Hashable, Sendable, CustomStringConvertible {
    public var group: String
    public var version: String
    public var resource: String
    public var kind: String
    public var namespaced: Bool

    public init(group: String, version: String, resource: String, kind: String, namespaced: Bool) {
        self.group = group
        self.version = version
        self.resource = resource
        self.kind = kind
        self.namespaced = namespaced
    }

    /// `group/version`, or only the version for the core group.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// `resource.group` as the API server names it in messages, e.g. `leases.coordination.k8s.io`.
    public var qualifiedResource: String { group.isEmpty ? resource : "\(resource).\(group)" }

    public var description: String { "\(qualifiedResource)/\(version)" }
}

/// The namespace/name identity of one object.
public struct ObjectKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var namespace: String?
    public var name: String

    public init(namespace: String?, name: String) {
        self.namespace = (namespace?.isEmpty ?? true) ? nil : namespace
        self.name = name
    }

    /// Parses `namespace/name` or `name`.
    public init(_ string: String) {
        if let slash = string.firstIndex(of: "/") {
            self.init(namespace: String(string[..<slash]), name: String(string[string.index(after: slash)...]))
        } else {
            self.init(namespace: nil, name: string)
        }
    }

    public var description: String { namespace.map { "\($0)/\(name)" } ?? name }

    public static func < (lhs: ObjectKey, rhs: ObjectKey) -> Bool { lhs.description < rhs.description }
}

/// A list response (`<Kind>List`): typed items or untyped ``JSONValue`` items.
public struct KubeList<Item: Codable & Sendable>: Codable, Sendable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ListMeta
    public var items: [Item]

    public init(apiVersion: String?, kind: String?, metadata: ListMeta = ListMeta(), items: [Item]) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.metadata = metadata
        self.items = items
    }

    enum CodingKeys: String, CodingKey {
        case apiVersion, kind, metadata, items
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion)
        kind = try container.decodeIfPresent(String.self, forKey: .kind)
        metadata = try container.decodeIfPresent(ListMeta.self, forKey: .metadata) ?? ListMeta()
        // The API server sends `"items": null` for an empty list of some resources.
        items = try container.decodeIfPresent([Item].self, forKey: .items) ?? []
    }
}
