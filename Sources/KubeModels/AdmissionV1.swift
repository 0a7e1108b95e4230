import Foundation

/// `admission.k8s.io/v1` (and `v1beta1`, the same shape) `AdmissionReview`: what kube-apiserver
/// posts to an admission webhook, and what the webhook answers in the same version.
public struct AdmissionReview: Codable, Hashable, Sendable {
    public static let group = "admission.k8s.io"
    /// The versions a webhook may be asked in.
    public static let versions = ["v1", "v1beta1"]

    public var apiVersion: String?
    public var kind: String?
    public var request: AdmissionRequest?
    public var response: AdmissionResponse?

    public init(apiVersion: String, request: AdmissionRequest? = nil, response: AdmissionResponse? = nil) {
        self.apiVersion = apiVersion
        self.kind = "AdmissionReview"
        self.request = request
        self.response = response
    }
}

/// The group, version and kind (or resource) of the object under admission.
public struct GroupVersionKindRef: Codable, Hashable, Sendable {
    public var group: String?
    public var version: String?
    public var kind: String?
    public var resource: String?

    public init(group: String = "", version: String, kind: String? = nil, resource: String? = nil) {
        self.group = group
        self.version = version
        self.kind = kind
        self.resource = resource
    }
}

/// One admission request: the operation, the object (and the old one for updates and
/// deletes) and whether nothing will be persisted (`dryRun`).
public struct AdmissionRequest: Codable, Hashable, Sendable {
    public var uid: String
    public var kind: GroupVersionKindRef?
    public var resource: GroupVersionKindRef?
    public var subResource: String?
    public var name: String?
    public var namespace: String?
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    public var operation: String?
    public var userInfo: JSONValue?
    public var object: JSONValue?
    public var oldObject: JSONValue?
    public var dryRun: Bool?
    public var options: JSONValue?

    public init(
        uid: String, kind: GroupVersionKindRef?, resource: GroupVersionKindRef?, name: String?, namespace: String?, operation: String,
        object: JSONValue?, oldObject: JSONValue? = nil, dryRun: Bool = false
    ) {
        self.uid = uid
        self.kind = kind
        self.resource = resource
        self.name = name
        self.namespace = namespace
        self.operation = operation
        self.object = object
        self.oldObject = oldObject
        self.dryRun = dryRun
    }
}

/// A webhook's answer: allowed or not (with a `Status` saying why), and for a mutating
/// webhook a base64 JSON patch.
public struct AdmissionResponse: Codable, Hashable, Sendable {
    public var uid: String
    public var allowed: Bool
    public var result: Status?
    /// Base64 of the JSON patch document.
    public var patch: String?
    /// `JSONPatch` when `patch` is set.
    public var patchType: String?
    public var warnings: [String]?

    public init(uid: String, allowed: Bool, result: Status? = nil, patch: [JSONValue]? = nil, warnings: [String]? = nil) {
        self.uid = uid
        self.allowed = allowed
        self.result = result
        if let patch, !patch.isEmpty, let bytes = try? JSONValue.array(patch).encoded() {
            self.patch = Data(bytes).base64EncodedString()
            self.patchType = "JSONPatch"
        }
        self.warnings = warnings
    }

    /// The decoded patch operations, empty when there is none.
    public func patchOperations() throws -> [JSONValue] {
        guard let patch else { return [] }
        guard let data = Data(base64Encoded: patch) else { throw JSONPatchError(message: "the patch is not base64") }
        guard case .array(let operations) = try JSONValue.decode(data) else { throw JSONPatchError(message: "the patch is not an array") }
        return operations
    }
}
