import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import SPOServer
import ServiceLifecycle

/// The admission webhooks over HTTPS (HTTP/1.1, port 9443 by default): `POST
/// /mutate-v1-pod-binding` and `/mutate-v1-pod-recording`, routed on the path alone (the API
/// server appends `?timeout=10s`). Bodies are bounded in size and in time (a body that has not
/// arrived within ``bodyDeadline`` gets a 408), connections that stay silent for
/// ``idleTimeout`` are closed (also one that never completes its TLS handshake), and what is not
/// an AdmissionReview gets a 400 that says why. The certificate is re-read on the next
/// handshake after the mounted Secret changes.
public struct WebhookServer: Service {
    /// The largest AdmissionReview accepted (a pod and its old version, with room to spare).
    public static let maximumBodySize = 7 * 1024 * 1024

    /// How long a connection may stay silent, also between kept-alive requests. Longer than the
    /// 90 s after which kube-apiserver's client drops idle connections itself, so the server never
    /// closes a connection the API server is about to send on.
    public static let defaultIdleTimeout: Duration = .seconds(120)
    /// How long a request's body may take to arrive once its headers did (the API server sends it
    /// at once; its own deadline for the whole call is at most 30 s).
    public static let defaultBodyDeadline: Duration = .seconds(10)

    private let host: String
    private let port: Int
    private let idleTimeout: Duration
    private let bodyDeadline: Duration
    private let certificate: ServingCertificate
    private let handler: AdmissionHandler
    private let logger: Logger
    private let onListening: @Sendable (Int) async -> Void

    public init(
        host: String = "0.0.0.0", port: Int, certificate: ServingCertificate, handler: AdmissionHandler, logger: Logger,
        idleTimeout: Duration = Self.defaultIdleTimeout, bodyDeadline: Duration = Self.defaultBodyDeadline,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.idleTimeout = idleTimeout
        self.bodyDeadline = bodyDeadline
        self.certificate = certificate
        self.handler = handler
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let router = Router()
        // One table for the body deadlines here and the handler's own (its live reads).
        let deadlines = handler.deadlines
        for webhook in AdmissionHandler.Webhook.allCases {
            router.post(RouterPath(webhook.rawValue)) { [handler, bodyDeadline] request, _ -> Response in
                let body: ByteBuffer
                do {
                    let requestBody = request.body
                    body = try await deadlines.run(within: bodyDeadline) { try await requestBody.collect(upTo: Self.maximumBodySize) }
                } catch is TimedOut {
                    return Self.response(.init(status: 408, body: Array("the AdmissionReview did not arrive within \(bodyDeadline)\n".utf8), contentType: "text/plain; charset=utf-8"))
                } catch is NIOTooManyBytesError {
                    return Self.response(.init(status: 413, body: Array("the AdmissionReview is larger than \(Self.maximumBodySize) bytes\n".utf8), contentType: "text/plain; charset=utf-8"))
                } catch {
                    return Self.response(.init(status: 400, body: Array("the request body could not be read: \(error)\n".utf8), contentType: "text/plain; charset=utf-8"))
                }
                return Self.response(await handler.handle(webhook, body: body.readableBytesView))
            }
        }
        let sweeper = Task { await deadlines.sweep() }
        defer { sweeper.cancel() }
        try await runApplication(
            router: router, server: try .tls(.http1(configuration: .init(idleTimeout: TimeAmount(idleTimeout))), tlsConfiguration: certificate.serverConfiguration()), host: host, port: port,
            portFlag: "--port", listeningMessage: "webhook.listening", logger: logger, onListening: onListening)
    }

    private static func response(_ reply: AdmissionHandler.Reply) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = reply.contentType
        return Response(status: HTTPResponse.Status(code: reply.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: reply.body)))
    }
}
