import Foundation
import KubeModels

/// The verb and path of a request, carried by every error for context.
public struct RequestDescription: Hashable, Sendable, CustomStringConvertible {
    public var verb: String
    public var path: String

    public init(verb: String, path: String) {
        self.verb = verb
        self.path = path
    }

    public var description: String { "\(verb) \(path)" }
}

/// A failure the API server reported: its HTTP code and decoded `Status` body.
public struct KubeAPIError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: Int
    public var status: Status
    public var request: RequestDescription
    /// Seconds the server asked us to wait (`Retry-After`), when it said so.
    public var retryAfterSeconds: Int?

    public init(code: Int, status: Status, request: RequestDescription, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.status = status
        self.request = request
        self.retryAfterSeconds = retryAfterSeconds ?? status.details?.retryAfterSeconds
    }

    /// Decodes a failure response: its `Status` body, or a synthesized `Status` when the body is
    /// not one (a proxy's HTML page, say), so callers always get the same typed error.
    public init(code: Int, body: some Collection<UInt8>, retryAfter: String?, request: RequestDescription) {
        let retryAfterSeconds = retryAfter.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let data = Data(body)
        if let decoded = try? JSONDecoder().decode(Status.self, from: data), decoded.kind == "Status" || decoded.reason != nil {
            self.init(code: code, status: decoded, request: request, retryAfterSeconds: retryAfterSeconds)
            return
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let status = Status(
            status: "Failure", message: text.isEmpty ? "HTTP \(code)" : String(text.prefix(1024)),
            reason: Self.reason(forCode: code), code: code)
        self.init(code: code, status: status, request: request, retryAfterSeconds: retryAfterSeconds)
    }

    /// The `Status.reason` kube-apiserver uses for an HTTP code.
    public static func reason(forCode code: Int) -> String {
        switch code {
        case 400: return "BadRequest"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 405: return "MethodNotAllowed"
        case 409: return "Conflict"
        case 410: return "Expired"
        case 415: return "UnsupportedMediaType"
        case 422: return "Invalid"
        case 429: return "TooManyRequests"
        case 504: return "Timeout"
        case 500...: return "InternalError"
        default: return "Unknown"
        }
    }

    public var reason: String { status.reason ?? "" }
    public var message: String { status.message ?? "" }
    public var details: StatusDetails? { status.details }

    public var isNotFound: Bool { code == 404 || reason == "NotFound" }
    public var isConflict: Bool { code == 409 && reason != "AlreadyExists" }
    public var isAlreadyExists: Bool { reason == "AlreadyExists" }
    /// `410 Gone`: the requested resourceVersion or continue token was compacted away.
    public var isGone: Bool { code == 410 || reason == "Expired" || reason == "Gone" }
    public var isInvalid: Bool { code == 422 || reason == "Invalid" }
    public var isForbidden: Bool { code == 403 || reason == "Forbidden" }
    public var isUnauthorized: Bool { code == 401 || reason == "Unauthorized" }
    public var isTooManyRequests: Bool { code == 429 || reason == "TooManyRequests" }
    public var isServerError: Bool { code >= 500 }

    public var description: String {
        "\(request): \(code) \(reason.isEmpty ? "" : reason + ": ")\(message)"
    }
}

/// A failure that is not the API server's verdict: transport, encoding, decoding, limits.
public struct KubeClientError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure, stable for matching and metric labels.
    public enum Code: String, Sendable, Hashable {
        case transport
        case encoding
        case decoding
        case watchEventTooLarge
        case tls
        case credentials
        case invalidRequest
    }

    public var code: Code
    public var message: String
    public var request: RequestDescription?
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, request: RequestDescription? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.request = request
        self.cause = cause
    }

    public var description: String {
        var text = request.map { "\($0): " } ?? ""
        text += message
        if let cause { text += " (\(cause))" }
        return text
    }
}

/// Classification helpers that work on any thrown error, as client-go's `apierrors.IsNotFound`.
public enum KubeErrors {
    public static func isNotFound(_ error: any Error) -> Bool { (error as? KubeAPIError)?.isNotFound ?? false }
    public static func isConflict(_ error: any Error) -> Bool { (error as? KubeAPIError)?.isConflict ?? false }
    public static func isAlreadyExists(_ error: any Error) -> Bool { (error as? KubeAPIError)?.isAlreadyExists ?? false }
    public static func isGone(_ error: any Error) -> Bool { (error as? KubeAPIError)?.isGone ?? false }
    public static func isInvalid(_ error: any Error) -> Bool { (error as? KubeAPIError)?.isInvalid ?? false }
    public static func isForbidden(_ error: any Error) -> Bool { (error as? KubeAPIError)?.isForbidden ?? false }
    public static func isTooManyRequests(_ error: any Error) -> Bool { (error as? KubeAPIError)?.isTooManyRequests ?? false }
}
