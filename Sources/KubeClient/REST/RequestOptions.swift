import KubeModels

/// Options of list and watch requests (`meta/v1.ListOptions`).
public struct ListOptions: Sendable, Hashable {
    public var labelSelector: String?
    public var fieldSelector: String?
    public var limit: Int?
    public var `continue`: String?
    public var resourceVersion: String?
    /// `Exact` or `NotOlderThan`.
    public var resourceVersionMatch: String?
    public var timeoutSeconds: Int?
    public var allowWatchBookmarks: Bool?

    public init(
        labelSelector: String? = nil,
        fieldSelector: String? = nil,
        limit: Int? = nil,
        continue: String? = nil,
        resourceVersion: String? = nil,
        resourceVersionMatch: String? = nil,
        timeoutSeconds: Int? = nil,
        allowWatchBookmarks: Bool? = nil
    ) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.limit = limit
        self.continue = `continue`
        self.resourceVersion = resourceVersion
        self.resourceVersionMatch = resourceVersionMatch
        self.timeoutSeconds = timeoutSeconds
        self.allowWatchBookmarks = allowWatchBookmarks
    }

    /// The query parameters these options become.
    public var queryItems: [(String, String)] {
        var items: [(String, String)] = []
        if let labelSelector, !labelSelector.isEmpty { items.append(("labelSelector", labelSelector)) }
        if let fieldSelector, !fieldSelector.isEmpty { items.append(("fieldSelector", fieldSelector)) }
        if let limit { items.append(("limit", String(limit))) }
        if let `continue`, !`continue`.isEmpty { items.append(("continue", `continue`)) }
        if let resourceVersion { items.append(("resourceVersion", resourceVersion)) }
        if let resourceVersionMatch { items.append(("resourceVersionMatch", resourceVersionMatch)) }
        if let timeoutSeconds { items.append(("timeoutSeconds", String(timeoutSeconds))) }
        if let allowWatchBookmarks { items.append(("allowWatchBookmarks", String(allowWatchBookmarks))) }
        return items
    }
}

/// A patch document and its type (the request's `Content-Type`).
public enum Patch: Sendable, Hashable {
    /// RFC 7386 JSON merge patch.
    case merge(JSONValue)
    /// RFC 6902 JSON patch (an array of operations).
    case json(JSONValue)
    /// Kubernetes strategic merge patch (built-in types only).
    case strategicMerge(JSONValue)

    var contentType: String {
        switch self {
        case .merge: return "application/merge-patch+json"
        case .json: return "application/json-patch+json"
        case .strategicMerge: return "application/strategic-merge-patch+json"
        }
    }

    var document: JSONValue {
        switch self {
        case .merge(let value), .json(let value), .strategicMerge(let value): return value
        }
    }
}

/// Options of a delete (`meta/v1.DeleteOptions`).
public struct DeleteOptions: Sendable, Hashable, Encodable {
    /// Preconditions the object must still meet for the delete to happen (else `409 Conflict`).
    public struct Preconditions: Sendable, Hashable, Encodable {
        public var uid: String?
        public var resourceVersion: String?

        public init(uid: String? = nil, resourceVersion: String? = nil) {
            self.uid = uid
            self.resourceVersion = resourceVersion
        }
    }

    /// `Orphan`, `Background` or `Foreground`.
    public var propagationPolicy: String?
    public var preconditions: Preconditions?
    public var gracePeriodSeconds: Int?

    public init(propagationPolicy: String? = nil, preconditions: Preconditions? = nil, gracePeriodSeconds: Int? = nil) {
        self.propagationPolicy = propagationPolicy
        self.preconditions = preconditions
        self.gracePeriodSeconds = gracePeriodSeconds
    }

    enum CodingKeys: String, CodingKey {
        case kind, apiVersion, propagationPolicy, preconditions, gracePeriodSeconds
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("DeleteOptions", forKey: .kind)
        try container.encode("v1", forKey: .apiVersion)
        try container.encodeIfPresent(propagationPolicy, forKey: .propagationPolicy)
        try container.encodeIfPresent(preconditions, forKey: .preconditions)
        try container.encodeIfPresent(gracePeriodSeconds, forKey: .gracePeriodSeconds)
    }
}

/// Builds API paths and query strings: `/api/v1/...` for the core group,
/// `/apis/<group>/<version>/...` otherwise, with `namespaces/<ns>/` for namespaced resources.
public enum RequestPath {
    /// The path of a collection (`name == nil`) or an object, optionally a subresource of it.
    /// `namespace == nil` on a namespaced resource addresses all namespaces (list/watch only).
    public static func path(_ resource: GroupVersionResource, namespace: String?, name: String? = nil, subresource: String? = nil) -> String {
        var path = resource.group.isEmpty ? "/api/\(resource.version)" : "/apis/\(resource.group)/\(resource.version)"
        if resource.namespaced, let namespace, !namespace.isEmpty {
            path += "/namespaces/\(escape(namespace))"
        }
        path += "/\(resource.resource)"
        if let name {
            path += "/\(escape(name))"
            if let subresource { path += "/\(subresource)" }
        }
        return path
    }

    /// `?a=b&c=d` with each value percent-encoded (RFC 3986 unreserved characters kept).
    public static func query(_ items: [(String, String)]) -> String {
        guard !items.isEmpty else { return "" }
        return "?" + items.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    static func escape(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return result
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
