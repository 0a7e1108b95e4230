import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle

/// Serves `/metrics` and `/metrics-spod` over HTTPS (HTTP/1.1), each scrape authorized by a
/// ``ScrapeAuthorizer``: `401` without an accepted bearer token, `403` when its identity may
/// not `get` the path. This replaces upstream's kube-rbac-proxy sidecar.
///
/// Run it as a `Service`: it stops accepting connections on graceful shutdown.
public struct MetricsServer: Service {
    private let host: String
    private let port: Int
    private let registry: MetricsRegistry
    private let certificate: ServingCertificate
    private let authorizer: any ScrapeAuthorizer
    private let logger: Logger
    private let onListening: @Sendable (Int) async -> Void

    /// - Parameters:
    ///   - port: the TCP port; `0` picks a free one, reported to `onListening` and in the log.
    public init(
        host: String = "0.0.0.0", port: Int, registry: MetricsRegistry, certificate: ServingCertificate,
        authorizer: any ScrapeAuthorizer, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.registry = registry
        self.certificate = certificate
        self.authorizer = authorizer
        self.logger = logger
        self.onListening = onListening
    }

    /// The content type of the Prometheus text exposition format.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public func run() async throws {
        let router = Router()
        for endpoint in MetricsRegistry.Endpoint.allCases {
            router.get(RouterPath(endpoint.rawValue)) { [registry, authorizer, logger] request, _ -> Response in
                try await Self.scrape(endpoint, request: request, registry: registry, authorizer: authorizer, logger: logger)
            }
        }
        try await runApplication(
            router: router, server: try .tls(.http1(), tlsConfiguration: certificate.serverConfiguration()), host: host, port: port,
            portFlag: "--metrics-port", listeningMessage: "metrics.listening", logger: logger, onListening: onListening)
    }

    private static func scrape(
        _ endpoint: MetricsRegistry.Endpoint, request: Request, registry: MetricsRegistry, authorizer: any ScrapeAuthorizer, logger: Logger
    ) async throws -> Response {
        switch await authorizer.authorize(token: bearerToken(request.headers[.authorization]), path: endpoint.rawValue) {
        case .allowed:
            var headers = HTTPFields()
            headers[.contentType] = contentType
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.exposition(endpoint))))
        case .unauthenticated:
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = "Bearer"
            return Response(status: .unauthorized, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: "Unauthorized\n")))
        case .forbidden(let reason):
            logger.info("metrics.scrape.forbidden", metadata: ["http.path": "\(endpoint.rawValue)", "reason": "\(reason)"])
            return Response(status: .forbidden, body: ResponseBody(byteBuffer: ByteBuffer(string: "Forbidden: \(reason)\n")))
        }
    }

    /// The token of an `Authorization: Bearer <token>` header.
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = String(parts[1].filter { $0 != " " && $0 != "\t" })
        return token.isEmpty ? nil : token
    }
}
