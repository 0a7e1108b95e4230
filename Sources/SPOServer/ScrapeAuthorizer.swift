import Crypto
import KubeClient
import KubeModels
import Logging
import Synchronization

/// Whether a scrape of a metrics path may proceed.
public enum ScrapeDecision: Sendable, Equatable {
    case allowed
    /// No token, or one the API server does not accept: `401`.
    case unauthenticated
    /// A known identity without `get` on the path: `403`, with the reason.
    case forbidden(String)
}

/// Decides whether the bearer token of a request may read a metrics path.
public protocol ScrapeAuthorizer: Sendable {
    func authorize(token: String?, path: String) async -> ScrapeDecision
}

/// Authenticates bearer tokens with a TokenReview and authorizes them with a
/// SubjectAccessReview for `get` on the non-resource URL, as kube-rbac-proxy did in front of
/// upstream's endpoints: the `spo-metrics-client` ClusterRole is what grants a scrape.
///
/// Decisions are cached briefly by a hash of the token and the path (the token itself is
/// never stored or logged); API failures are never cached and answer `unauthenticated`.
public final class KubernetesScrapeAuthorizer: ScrapeAuthorizer {
    private struct CacheKey: Hashable {
        var tokenHash: [UInt8]
        var path: String
    }

    private let client: KubernetesClient
    private let allowedTTL: Duration
    private let deniedTTL: Duration
    private let capacity: Int
    private let logger: Logger
    private let cache = Mutex<[CacheKey: (decision: ScrapeDecision, expires: ContinuousClock.Instant)]>([:])

    /// - Parameters:
    ///   - allowedTTL: how long an allowed token keeps being allowed without asking again.
    ///   - deniedTTL: how long a refusal is remembered (a new RoleBinding takes effect after it).
    ///   - capacity: the most cached decisions; expired ones are dropped first, then all.
    public init(
        client: KubernetesClient, allowedTTL: Duration = .seconds(30), deniedTTL: Duration = .seconds(5), capacity: Int = 1024,
        logger: Logger = Logger(label: "spo.metrics.auth")
    ) {
        self.client = client
        self.allowedTTL = allowedTTL
        self.deniedTTL = deniedTTL
        self.capacity = capacity
        self.logger = logger
    }

    public func authorize(token: String?, path: String) async -> ScrapeDecision {
        guard let token, !token.isEmpty else { return .unauthenticated }
        let key = CacheKey(tokenHash: Array(SHA256.hash(data: Array(token.utf8))), path: path)
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[key] }), cached.expires > now {
            return cached.decision
        }
        let decision: ScrapeDecision
        do {
            decision = try await review(token: token, path: path)
        } catch {
            logger.warning("metrics.auth.review_failed", metadata: ["http.path": "\(path)", "error": "\(error)"])
            return .unauthenticated
        }
        let ttl = decision == .allowed ? allowedTTL : deniedTTL
        cache.withLock { cache in
            if cache.count >= capacity {
                cache = cache.filter { $0.value.expires > now }
                if cache.count >= capacity { cache.removeAll() }
            }
            cache[key] = (decision, now + ttl)
        }
        return decision
    }

    private func review(token: String, path: String) async throws -> ScrapeDecision {
        let authentication = try await client.resource(TokenReview.self).create(TokenReview(token: token))
        guard authentication.status?.authenticated == true, let user = authentication.status?.user else {
            return .unauthenticated
        }
        let access = SubjectAccessReview(spec: .init(user: user, nonResourceAttributes: .init(path: path, verb: "get")))
        let authorization = try await client.resource(SubjectAccessReview.self).create(access)
        if authorization.status?.allowed == true { return .allowed }
        let name = user.username ?? "unknown user"
        let reason = authorization.status?.reason.flatMap { $0.isEmpty ? nil : $0 }
        return .forbidden("\(name) may not get \(path)" + (reason.map { ": \($0)" } ?? ""))
    }
}
