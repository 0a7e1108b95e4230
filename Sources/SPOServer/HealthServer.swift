import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Serves the liveness (`/healthz`) and readiness (`/readyz`) probes of an operator process.
///
/// `/healthz` answers 200 while the process serves requests; `/readyz` answers 200 only when
/// every readiness check passes (e.g. caches synced), otherwise 503 naming the failing checks.
/// Run it as a `Service`: it stops accepting connections on graceful shutdown.
public struct HealthServer: Service {
    /// A named readiness condition.
    public struct Check: Sendable {
        public var name: String
        public var isReady: @Sendable () -> Bool

        public init(name: String, isReady: @escaping @Sendable () -> Bool) {
            self.name = name
            self.isReady = isReady
        }
    }

    private let host: String
    private let port: Int
    private let checks: [Check]
    private let logger: Logger
    private let onListening: @Sendable (Int) async -> Void

    /// - Parameters:
    ///   - port: the TCP port; `0` picks a free one, reported to `onListening` and in the log.
    public init(
        host: String = "0.0.0.0",
        port: Int,
        checks: [Check] = [],
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.checks = checks
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let router = Router()
        router.get("healthz") { _, _ in "ok" }
        let checks = self.checks
        router.get("readyz") { _, _ -> Response in
            let failing = checks.filter { !$0.isReady() }.map(\.name)
            if failing.isEmpty {
                return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok")))
            }
            let text = "not ready: " + failing.joined(separator: ", ")
            return Response(status: .serviceUnavailable, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        try await runApplication(
            router: router, server: .http1(), host: host, port: port, portFlag: "--health-probe-port", listeningMessage: "health.listening",
            logger: logger, onListening: onListening)
    }
}

/// Runs a Hummingbird application until graceful shutdown, logging `listeningMessage` with the
/// bound port and reporting it to `onListening` once the server accepts connections.
package func runApplication(
    router: Router<BasicRequestContext>, server: HTTPServerBuilder, host: String, port: Int, portFlag: String, listeningMessage: Logger.Message,
    logger: Logger, onListening: @escaping @Sendable (Int) async -> Void
) async throws {
    let app = Application(
        router: router,
        server: server,
        configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "security-profiles-operator"),
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? 0
            logger.info(listeningMessage, metadata: ["http.port": "\(port)"])
            await onListening(port)
        },
        logger: logger
    )
    do {
        try await app.run()
    } catch let error as IOError where error.errnoCode == EADDRINUSE {
        throw ListenError(host: host, port: port, flag: portFlag)
    }
}

/// A server's port is taken (another process, or another role of this binary on the same
/// machine): says which flag picks another.
public struct ListenError: Error, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var flag: String

    public var description: String {
        "cannot listen on \(host):\(port): the address is already in use (another process, or another role on this machine); pass \(flag) PORT (0 picks a free one)"
    }
}
