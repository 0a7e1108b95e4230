import Foundation

/// Everything the client needs to reach one API server: where, how to trust it, who to be,
/// and how politely to call it. Build one with ``KubeConfigLoader`` or by hand (tests).
public struct KubeClientConfiguration: Sendable {
    /// How the client proves who it is with a bearer token.
    public enum BearerToken: Sendable, Hashable {
        /// A fixed token.
        case literal(String)
        /// A token file that is re-read periodically (service-account tokens rotate).
        case file(String)
    }

    /// A client certificate and its key, both PEM.
    public struct ClientCertificate: Sendable, Hashable {
        public var certificatePEM: [UInt8]
        public var keyPEM: [UInt8]

        public init(certificatePEM: [UInt8], keyPEM: [UInt8]) {
            self.certificatePEM = certificatePEM
            self.keyPEM = keyPEM
        }
    }

    /// Base URL of the API server, e.g. `https://10.0.0.1:6443`.
    public var server: URL
    /// PEM bundle of certificate authorities to trust; `nil` uses the system roots.
    public var certificateAuthorityPEM: [UInt8]?
    /// Skip server certificate verification (never in production).
    public var insecureSkipTLSVerify: Bool
    public var bearerToken: BearerToken?
    public var clientCertificate: ClientCertificate?
    /// The namespace of the current context (or the pod's namespace in-cluster).
    public var namespace: String
    /// Sustained requests per second (client-side limit, as client-go's `QPS`).
    public var qps: Double
    /// Requests allowed in a burst above `qps`.
    public var burst: Int
    /// Deadline of one non-watch request.
    public var requestTimeout: Duration
    /// Retry behaviour for throttled and failed idempotent requests.
    public var retry: RetryPolicy
    /// Sent as `User-Agent`.
    public var userAgent: String
    /// The largest single watch event accepted; a larger one fails the watch instead of growing memory.
    public var maximumWatchEventSize: Int

    public init(
        server: URL,
        certificateAuthorityPEM: [UInt8]? = nil,
        insecureSkipTLSVerify: Bool = false,
        bearerToken: BearerToken? = nil,
        clientCertificate: ClientCertificate? = nil,
        namespace: String = "default",
        qps: Double = 20,
        burst: Int = 30,
        requestTimeout: Duration = .seconds(60),
        retry: RetryPolicy = RetryPolicy(),
        userAgent: String = "security-profiles-operator",
        maximumWatchEventSize: Int = 16 * 1024 * 1024
    ) {
        self.server = server
        self.certificateAuthorityPEM = certificateAuthorityPEM
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.bearerToken = bearerToken
        self.clientCertificate = clientCertificate
        self.namespace = namespace
        self.qps = qps
        self.burst = burst
        self.requestTimeout = requestTimeout
        self.retry = retry
        self.userAgent = userAgent
        self.maximumWatchEventSize = maximumWatchEventSize
    }
}

/// Why no usable client configuration could be built; says which file and which entry.
public struct KubeConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of problem, stable for matching in code.
    public enum Code: String, Sendable, Hashable {
        case noConfiguration
        case unreadableFile
        case malformedFile
        case missingContext
        case missingCluster
        case missingUser
        case missingServer
        case invalidServer
        case invalidBase64
        case unsupportedAuth
        case incompleteClientCertificate
    }

    public var code: Code
    public var message: String
    /// The file the problem is in, when there is one.
    public var path: String?

    public init(_ code: Code, _ message: String, path: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
    }

    public var description: String {
        path.map { "kubeconfig \($0): \(message)" } ?? message
    }
}
