import KubeModels

/// A namespaced custom resource with a status subresource, for tests of generic behaviour.
public struct Widget: KubeResource, Hashable {
    public static let group = "example.com"
    public static let version = "v1"
    public static let kind = "Widget"
    public static let plural = "widgets"
    public static let namespaced = true

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: JSONValue?
    public var status: JSONValue?

    public init(name: String, namespace: String = "default", spec: JSONValue? = nil, labels: [String: String]? = nil) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = ObjectMeta(name: name, namespace: namespace, labels: labels)
        self.spec = spec
    }
}

extension TestResource {
    /// The built-in resources plus ``Widget``.
    public static let withWidgets: [TestResource] = builtIn + [TestResource(Widget.self)]
}
