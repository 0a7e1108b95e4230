/// `admissionregistration.k8s.io/v1.MutatingWebhookConfiguration` (cluster-scoped): which
/// requests kube-apiserver sends to which mutating webhooks, and how it reaches and trusts them.
public struct MutatingWebhookConfiguration: KubeResource, Hashable {
    public static let group = "admissionregistration.k8s.io"
    public static let version = "v1"
    public static let kind = "MutatingWebhookConfiguration"
    public static let plural = "mutatingwebhookconfigurations"
    public static let namespaced = false

    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var webhooks: [MutatingWebhook]?

    public init(metadata: ObjectMeta, webhooks: [MutatingWebhook]) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.webhooks = webhooks
    }
}

/// One webhook of a ``MutatingWebhookConfiguration``.
public struct MutatingWebhook: Codable, Hashable, Sendable {
    public var name: String
    public var clientConfig: WebhookClientConfig
    public var rules: [RuleWithOperations]?
    /// `Fail` or `Ignore`: what a call that fails (unreachable, timeout, bad answer) means.
    public var failurePolicy: String?
    /// `Exact` or `Equivalent`.
    public var matchPolicy: String?
    public var namespaceSelector: LabelSelector?
    public var objectSelector: LabelSelector?
    public var sideEffects: String?
    public var timeoutSeconds: Int?
    public var admissionReviewVersions: [String]
    /// `Never` or `IfNeeded`.
    public var reinvocationPolicy: String?

    public init(
        name: String, clientConfig: WebhookClientConfig, rules: [RuleWithOperations], failurePolicy: String, matchPolicy: String = "Equivalent",
        namespaceSelector: LabelSelector?, objectSelector: LabelSelector?, sideEffects: String = "None", timeoutSeconds: Int = 10,
        admissionReviewVersions: [String], reinvocationPolicy: String = "Never"
    ) {
        self.name = name
        self.clientConfig = clientConfig
        self.rules = rules
        self.failurePolicy = failurePolicy
        self.matchPolicy = matchPolicy
        self.namespaceSelector = namespaceSelector
        self.objectSelector = objectSelector
        self.sideEffects = sideEffects
        self.timeoutSeconds = timeoutSeconds
        self.admissionReviewVersions = admissionReviewVersions
        self.reinvocationPolicy = reinvocationPolicy
    }
}

/// Where a webhook is reached: a URL, or a Service of the cluster; and the CA bundle (base64
/// PEM) that verifies its serving certificate.
public struct WebhookClientConfig: Codable, Hashable, Sendable {
    public var url: String?
    public var service: ServiceReference?
    public var caBundle: String?

    public init(url: String? = nil, service: ServiceReference? = nil, caBundle: String? = nil) {
        self.url = url
        self.service = service
        self.caBundle = caBundle
    }

    /// A Service port and path.
    public struct ServiceReference: Codable, Hashable, Sendable {
        public var namespace: String
        public var name: String
        public var path: String?
        public var port: Int?

        public init(namespace: String, name: String, path: String?, port: Int = 443) {
            self.namespace = namespace
            self.name = name
            self.path = path
            self.port = port
        }
    }
}

/// Operations on resources a webhook receives.
public struct RuleWithOperations: Codable, Hashable, Sendable {
    public var operations: [String]?
    public var apiGroups: [String]?
    public var apiVersions: [String]?
    public var resources: [String]?
    /// `Cluster`, `Namespaced` or `*`.
    public var scope: String?

    public init(operations: [String], apiGroups: [String], apiVersions: [String], resources: [String], scope: String = "*") {
        self.operations = operations
        self.apiGroups = apiGroups
        self.apiVersions = apiVersions
        self.resources = resources
        self.scope = scope
    }

    /// Whether the rule covers `operation` on `resource` (`*` matches anything).
    public func matches(operation: String, group: String, version: String, resource: String) -> Bool {
        func covers(_ list: [String]?, _ value: String) -> Bool { (list ?? []).contains { $0 == "*" || $0 == value } }
        return covers(operations, operation) && covers(apiGroups, group) && covers(apiVersions, version) && covers(resources, resource)
    }
}
