/// `authentication.k8s.io/v1.TokenReview`: asks the API server who a bearer token belongs to.
/// Created (never stored); the answer is in `status`.
public struct TokenReview: KubeResource, Hashable {
    public static let group = "authentication.k8s.io"
    public static let version = "v1"
    public static let kind = "TokenReview"
    public static let plural = "tokenreviews"
    public static let namespaced = false

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: Status?

    public init(token: String) {
        apiVersion = Self.apiVersion
        kind = Self.kind
        metadata = ObjectMeta()
        spec = Spec(token: token)
    }

    /// The token to review.
    public struct Spec: Codable, Hashable, Sendable {
        public var token: String
        public var audiences: [String]?

        public init(token: String, audiences: [String]? = nil) {
            self.token = token
            self.audiences = audiences
        }
    }

    /// The API server's answer.
    public struct Status: Codable, Hashable, Sendable {
        public var authenticated: Bool?
        public var user: UserInfo?
        public var error: String?

        public init(authenticated: Bool? = nil, user: UserInfo? = nil, error: String? = nil) {
            self.authenticated = authenticated
            self.user = user
            self.error = error
        }
    }
}

/// The identity behind a token: user name, uid, groups and extra attributes.
public struct UserInfo: Codable, Hashable, Sendable {
    public var username: String?
    public var uid: String?
    public var groups: [String]?
    public var extra: [String: [String]]?

    public init(username: String? = nil, uid: String? = nil, groups: [String]? = nil, extra: [String: [String]]? = nil) {
        self.username = username
        self.uid = uid
        self.groups = groups
        self.extra = extra
    }
}

/// `authorization.k8s.io/v1.SubjectAccessReview`: asks the API server whether a user may do
/// something (a verb on a resource or on a non-resource URL such as `/metrics`).
public struct SubjectAccessReview: KubeResource, Hashable {
    public static let group = "authorization.k8s.io"
    public static let version = "v1"
    public static let kind = "SubjectAccessReview"
    public static let plural = "subjectaccessreviews"
    public static let namespaced = false

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: Status?

    public init(spec: Spec) {
        apiVersion = Self.apiVersion
        kind = Self.kind
        metadata = ObjectMeta()
        self.spec = spec
    }

    /// Who asks for what.
    public struct Spec: Codable, Hashable, Sendable {
        public var user: String?
        public var uid: String?
        public var groups: [String]?
        public var extra: [String: [String]]?
        public var nonResourceAttributes: NonResourceAttributes?
        public var resourceAttributes: ResourceAttributes?

        public init(
            user: UserInfo, nonResourceAttributes: NonResourceAttributes? = nil, resourceAttributes: ResourceAttributes? = nil
        ) {
            self.user = user.username
            self.uid = user.uid
            self.groups = user.groups
            self.extra = user.extra
            self.nonResourceAttributes = nonResourceAttributes
            self.resourceAttributes = resourceAttributes
        }
    }

    /// A request to a URL that is not an API resource.
    public struct NonResourceAttributes: Codable, Hashable, Sendable {
        public var path: String
        public var verb: String

        public init(path: String, verb: String) {
            self.path = path
            self.verb = verb
        }
    }

    /// A request on an API resource.
    public struct ResourceAttributes: Codable, Hashable, Sendable {
        public var namespace: String?
        public var verb: String?
        public var group: String?
        public var version: String?
        public var resource: String?
        public var subresource: String?
        public var name: String?

        public init(
            namespace: String? = nil, verb: String? = nil, group: String? = nil, version: String? = nil,
            resource: String? = nil, subresource: String? = nil, name: String? = nil
        ) {
            self.namespace = namespace
            self.verb = verb
            self.group = group
            self.version = version
            self.resource = resource
            self.subresource = subresource
            self.name = name
        }
    }

    /// The decision.
    public struct Status: Codable, Hashable, Sendable {
        public var allowed: Bool
        public var denied: Bool?
        public var reason: String?
        public var evaluationError: String?

        public init(allowed: Bool, denied: Bool? = nil, reason: String? = nil, evaluationError: String? = nil) {
            self.allowed = allowed
            self.denied = denied
            self.reason = reason
            self.evaluationError = evaluationError
        }
    }
}
