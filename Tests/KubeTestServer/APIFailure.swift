import KubeModels

/// A failure the test server answers with: an HTTP code and a `Status` body shaped like kube-apiserver's.
struct APIFailure: Error {
    var code: Int
    var reason: String
    var message: String
    var details: StatusDetails?
    var retryAfterSeconds: Int?

    var status: Status {
        Status(status: "Failure", message: message, reason: reason, details: details, code: code)
    }

    static func notFound(_ resource: GroupVersionResource, _ name: String) -> APIFailure {
        APIFailure(code: 404, reason: "NotFound", message: "\(resource.qualifiedResource) \"\(name)\" not found",
            details: StatusDetails(name: name, group: resource.group, kind: resource.resource))
    }

    static func alreadyExists(_ resource: GroupVersionResource, _ name: String) -> APIFailure {
        APIFailure(code: 409, reason: "AlreadyExists", message: "\(resource.qualifiedResource) \"\(name)\" already exists",
            details: StatusDetails(name: name, group: resource.group, kind: resource.resource))
    }

    static func conflict(_ resource: GroupVersionResource, _ name: String, _ why: String = "the object has been modified; please apply your changes to the latest version and try again") -> APIFailure {
        APIFailure(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on \(resource.qualifiedResource) \"\(name)\": \(why)",
            details: StatusDetails(name: name, group: resource.group, kind: resource.resource))
    }

    static func invalid(_ resource: GroupVersionResource, _ name: String, field: String, cause: String, why: String) -> APIFailure {
        APIFailure(code: 422, reason: "Invalid", message: "\(resource.kind).\(resource.group.isEmpty ? "" : resource.group) \"\(name)\" is invalid: \(field): \(why)",
            details: StatusDetails(name: name, group: resource.group, kind: resource.kind, causes: [StatusCause(reason: cause, message: why, field: field)]))
    }

    static func badRequest(_ message: String) -> APIFailure {
        APIFailure(code: 400, reason: "BadRequest", message: message)
    }

    static func gone(_ message: String) -> APIFailure {
        APIFailure(code: 410, reason: "Expired", message: message)
    }
}
