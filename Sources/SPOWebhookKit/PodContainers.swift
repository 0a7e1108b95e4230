import KubeModels

/// The containers of an untyped pod, init containers first (the order the webhooks visit them
/// in), with in-place access to each one's `securityContext`.
struct PodContainers {
    /// Where a container is: `initContainers` or `containers`, and its index there.
    struct Location: Hashable {
        var list: String
        var index: Int
    }

    static let lists = ["initContainers", "containers"]

    /// Every container's location, name and image.
    static func all(in pod: JSONValue) -> [(location: Location, name: String, image: String)] {
        lists.flatMap { list in
            (pod[path: ["spec", list]]?.arrayValue ?? []).enumerated().map { index, container in
                (Location(list: list, index: index), container["name"]?.stringValue ?? "", container["image"]?.stringValue ?? "")
            }
        }
    }

    /// A field under a container's `securityContext`.
    static func securityContext(_ pod: JSONValue, _ location: Location, _ field: String) -> JSONValue? {
        container(pod, location)?[path: ["securityContext", field]]
    }

    static func container(_ pod: JSONValue, _ location: Location) -> JSONValue? {
        guard let list = pod[path: ["spec", location.list]]?.arrayValue, list.indices.contains(location.index) else { return nil }
        return list[location.index]
    }

    /// Sets a field under a container's `securityContext`.
    static func setSecurityContext(_ pod: inout JSONValue, _ location: Location, _ field: String, _ value: JSONValue) {
        guard var list = pod[path: ["spec", location.list]]?.arrayValue, list.indices.contains(location.index) else { return }
        list[location.index][path: ["securityContext", field]] = value
        pod[path: ["spec", location.list]] = .array(list)
    }

    /// Whether a JSON field counts as set (absent and `null` do not).
    static func isSet(_ value: JSONValue?) -> Bool {
        guard let value else { return false }
        return value != .null
    }
}
