import AsyncHTTPClient
import CoreMetrics
import Foundation
import KubeModels
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// A Kubernetes API client over AsyncHTTPClient: authentication, TLS, client-side rate limiting,
/// retries and `Status` error decoding. Use ``resource(_:)`` or ``dynamic(_:)`` for the verbs.
///
/// Call ``shutdown()`` when done (or use ``withClient(configuration:logger:_:)``).
public final class KubernetesClient: Sendable {
    public let configuration: KubeClientConfiguration
    let http: HTTPClient
    let logger: Logger
    private let limiter: Mutex<TokenBucket>
    private let tokens: BearerTokenProvider?
    private let baseURL: String
    private let metricsHost: String

    /// The largest response body read into memory (a list of many objects).
    static let maximumBodySize = 512 * 1024 * 1024

    public init(configuration: KubeClientConfiguration, logger: Logger = Logger(label: "kube.client")) throws(KubeClientError) {
        self.configuration = configuration
        self.logger = logger
        self.limiter = Mutex(TokenBucket(qps: configuration.qps, burst: configuration.burst))
        self.tokens = configuration.bearerToken.map(BearerTokenProvider.init)
        var base = configuration.server.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.metricsHost = configuration.server.host.map { host in configuration.server.port.map { "\(host):\($0)" } ?? host } ?? base

        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if let ca = configuration.certificateAuthorityPEM {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(ca))
            }
            if let client = configuration.clientCertificate {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(client.certificatePEM).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: client.keyPEM, format: .pem))
            }
        } catch {
            throw KubeClientError(.tls, "cannot load TLS material from the configuration", cause: error)
        }
        if configuration.insecureSkipTLSVerify {
            tls.certificateVerification = .none
        }
        var httpConfiguration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            timeout: .init(connect: .seconds(10), read: nil)
        )
        httpConfiguration.httpVersion = .http1Only
        // Over HTTP/1.1 every open watch holds a connection; the manager runs ten informers,
        // and requests must not queue behind them (AsyncHTTPClient's default is 8 per host).
        httpConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        // The operator exports no traces. Left to its default, AsyncHTTPClient opens a span
        // through the global no-op tracer for every request and fills in its attributes: 2% of
        // the node daemon's CPU when it installs a thousand profiles.
        httpConfiguration.tracing.tracer = nil
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
    }

    /// Runs `body` with a new client and shuts the client down afterwards, also on error.
    @discardableResult
    public static func withClient<T: Sendable>(
        configuration: KubeClientConfiguration,
        logger: Logger = Logger(label: "kube.client"),
        _ body: (KubernetesClient) async throws -> T
    ) async throws -> T {
        let client = try KubernetesClient(configuration: configuration, logger: logger)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Closes all connections. Open watch streams fail.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    /// The verbs for a typed resource.
    public func resource<R: KubeResource>(_ type: R.Type) -> ResourceClient<R> {
        ResourceClient(client: self, resource: R.resource)
    }

    /// The verbs for any resource, with objects as untyped JSON.
    public func dynamic(_ resource: GroupVersionResource) -> ResourceClient<JSONValue> {
        ResourceClient(client: self, resource: resource)
    }

    // MARK: - Requests

    /// One API request before it is sent.
    struct Request: Sendable {
        var method: HTTPMethod
        var path: String
        var query: [(String, String)] = []
        var body: ByteBuffer? = nil
        var contentType: String? = nil
        /// Whether repeating it after an unknown outcome is safe.
        var idempotent: Bool

        var description: RequestDescription { RequestDescription(verb: method.rawValue, path: path) }
    }

    /// Sends a request with rate limiting and retries; returns the body of a 2xx response.
    func send(_ request: Request) async throws -> ByteBuffer {
        var attempt = 1
        while true {
            let outcome: (statusCode: Int?, retryAfter: Int?, error: any Error)
            do {
                let response = try await execute(request, deadline: .now() + .nanoseconds(Int64(configuration.requestTimeout.seconds * 1e9)))
                let body = try await response.body.collect(upTo: Self.maximumBodySize)
                if (200..<300).contains(response.status.code) {
                    return body
                }
                let error = KubeAPIError(code: Int(response.status.code), body: body.readableBytesView, retryAfter: response.headers.first(name: "Retry-After"), request: request.description)
                outcome = (Int(response.status.code), error.retryAfterSeconds, error)
            } catch let error as KubeClientError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                outcome = (nil, nil, KubeClientError(.transport, "request failed", request: request.description, cause: error))
            }
            let decision = configuration.retry.decide(
                attempt: attempt, idempotent: request.idempotent, statusCode: outcome.statusCode,
                retryAfterSeconds: outcome.retryAfter, random: Double.random(in: 0..<1))
            guard case .retry(let delay) = decision else { throw outcome.error }
            logger.debug(
                "kube.request.retry",
                metadata: [
                    "http.method": "\(request.method.rawValue)", "http.path": "\(request.path)",
                    "http.status": "\(outcome.statusCode.map(String.init) ?? "none")",
                    "retry.attempt": "\(attempt)", "retry.delay_ms": "\(Int(delay.seconds * 1000))",
                ])
            try await Task.sleep(for: delay)
            attempt += 1
        }
    }

    /// Opens a streaming GET (watch); fails with the decoded `Status` on a non-2xx answer.
    func openStream(_ request: Request, deadline: NIODeadline) async throws -> HTTPClientResponse {
        var attempt = 1
        while true {
            let response: HTTPClientResponse
            do {
                response = try await execute(request, deadline: deadline)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                let failure = KubeClientError(.transport, "watch request failed", request: request.description, cause: error)
                guard case .retry(let delay) = configuration.retry.decide(attempt: attempt, idempotent: true, statusCode: nil, retryAfterSeconds: nil, random: .random(in: 0..<1)) else {
                    throw failure
                }
                try await Task.sleep(for: delay)
                attempt += 1
                continue
            }
            if (200..<300).contains(response.status.code) { return response }
            let body = try await response.body.collect(upTo: 1024 * 1024)
            let error = KubeAPIError(code: Int(response.status.code), body: body.readableBytesView, retryAfter: response.headers.first(name: "Retry-After"), request: request.description)
            guard case .retry(let delay) = configuration.retry.decide(attempt: attempt, idempotent: true, statusCode: error.code, retryAfterSeconds: error.retryAfterSeconds, random: .random(in: 0..<1)) else {
                throw error
            }
            try await Task.sleep(for: delay)
            attempt += 1
        }
    }

    private func execute(_ request: Request, deadline: NIODeadline) async throws -> HTTPClientResponse {
        let wait = limiter.withLock { $0.reserve(now: .now, releasingEvery: $0.releaseTick) }
        if wait > .zero {
            try await Task.sleep(for: wait)
        }
        var http = HTTPClientRequest(url: baseURL + request.path + RequestPath.query(request.query))
        http.method = request.method
        http.headers.add(name: "Accept", value: "application/json")
        http.headers.add(name: "User-Agent", value: configuration.userAgent)
        if let token = try tokens?.token() {
            http.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        if let body = request.body {
            http.headers.add(name: "Content-Type", value: request.contentType ?? "application/json")
            http.body = .bytes(body)
        }
        logger.trace("kube.request", metadata: ["http.method": "\(request.method.rawValue)", "http.path": "\(request.path)"])
        let started = ContinuousClock.now
        do {
            let response = try await self.http.execute(http, deadline: deadline, logger: logger)
            ClientMetrics.record(method: request.method.rawValue, host: metricsHost, code: String(response.status.code), duration: .now - started)
            return response
        } catch {
            ClientMetrics.record(method: request.method.rawValue, host: metricsHost, code: "<error>", duration: .now - started)
            throw error
        }
    }
}

/// Supplies the bearer token, re-reading a token file once a minute (bound service-account
/// tokens rotate; client-go re-reads at the same interval).
final class BearerTokenProvider: Sendable {
    private let source: KubeClientConfiguration.BearerToken
    private let cache = Mutex<(token: String, readAt: ContinuousClock.Instant)?>(nil)
    static let refreshInterval: Duration = .seconds(60)

    init(_ source: KubeClientConfiguration.BearerToken) {
        self.source = source
    }

    func token() throws(KubeClientError) -> String {
        switch source {
        case .literal(let token):
            return token
        case .file(let path):
            let now = ContinuousClock.now
            if let cached = cache.withLock({ $0 }), now - cached.readAt < Self.refreshInterval {
                return cached.token
            }
            guard let data = FileManager.default.contents(atPath: path),
                let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
                !text.isEmpty
            else {
                // Keep using the last good token if the file is briefly unreadable during rotation.
                if let cached = cache.withLock({ $0 }) { return cached.token }
                throw KubeClientError(.credentials, "cannot read bearer token file \(path)")
            }
            cache.withLock { $0 = (text, now) }
            return text
        }
    }
}
