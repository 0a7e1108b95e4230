import Foundation
import KubeClient
import KubeTestServer
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SPOServer
@testable import SPOWebhook
import Synchronization
import Testing

/// The webhook server never hangs on a client: a body that does not arrive in time gets a 408,
/// and a connection that stays silent (also one that never starts TLS) is closed.
@Suite struct ServerLimitsTests {
    /// Runs a webhook server with short limits and hands `body` its port and certificate.
    func withServer(idleTimeout: Duration, bodyDeadline: Duration, _ body: (Int, TestTLS) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("webhook-limits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let tls = try TestTLS.generate()
        try tls.write(into: directory)
        let logger = Logger(label: "test.webhook.limits")
        try await KubeTestServer.withServer(resources: TestResource.builtIn) { server in
            try await KubernetesClient.withClient(configuration: server.clientConfiguration()) { client in
                let handler = AdmissionHandler(
                    cache: AdmissionCache(client: client, logger: logger), operatorNamespace: "security-profiles-operator",
                    events: EventQueue(recorder: nil), logger: logger)
                let certificate = try ServingCertificate(directory: directory.path, hostnames: ["localhost"])
                let (ports, listening) = AsyncStream.makeStream(of: Int.self)
                let webhook = WebhookServer(
                    host: "127.0.0.1", port: 0, certificate: certificate, handler: handler, logger: logger,
                    idleTimeout: idleTimeout, bodyDeadline: bodyDeadline) { listening.yield($0) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try? await webhook.run() }
                    defer { group.cancelAll() }
                    var iterator = ports.makeAsyncIterator()
                    try await body(try #require(await iterator.next()), tls)
                }
            }
        }
    }

    @Test func aBodyThatDoesNotArriveGetsA408() async throws {
        // The connection stays open well past the deadline: the 408 is what ends the wait.
        try await withServer(idleTimeout: .seconds(20), bodyDeadline: .milliseconds(500)) { port, tls in
            let head = "POST /mutate-v1-pod-binding?timeout=10s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"apiVersion\":"
            let started = ContinuousClock.now
            let reply = try await RawConnection.exchange(port: port, trust: tls, send: Array(head.utf8), until: "did not arrive within")
            #expect(reply.hasPrefix("HTTP/1.1 408"), "\(reply)")
            #expect(reply.contains("the AdmissionReview did not arrive within"), "\(reply)")
            #expect(ContinuousClock.now - started < .seconds(30))
        }
    }

    /// A request's deadline is an entry in a table, gone as soon as the work ends (a timer per
    /// request held memory until its deadline); expired work is cancelled and reported.
    @Test func deadlinesCostNothingOnceTheWorkEnds() async throws {
        let deadlines = RequestDeadlines(granularity: .milliseconds(20))
        let sweeper = Task { await deadlines.sweep() }
        defer { sweeper.cancel() }
        for index in 0..<1000 {
            let value = try await deadlines.run(within: .seconds(60)) { index }
            #expect(value == index)
        }
        #expect(deadlines.count == 0)
        let cancelled = Atomic<Bool>(false)
        await #expect(throws: TimedOut.self) {
            try await deadlines.run(within: .milliseconds(50)) {
                do {
                    try await Task.sleep(for: .seconds(60))
                } catch {
                    cancelled.store(true, ordering: .relaxed)
                }
                return 0
            }
        }
        let wasCancelled = cancelled.load(ordering: .relaxed)
        #expect(wasCancelled, "the expired work was cancelled")
        #expect(deadlines.count == 0)
    }

    @Test func silentConnectionsAreClosed() async throws {
        try await withServer(idleTimeout: .seconds(1), bodyDeadline: .seconds(10)) { port, tls in
            // TLS established, no request.
            let started = ContinuousClock.now
            let silent = try await RawConnection.exchange(port: port, trust: tls, send: [])
            #expect(silent.isEmpty)
            #expect(ContinuousClock.now - started < .seconds(30))
            // No TLS handshake at all.
            let plain = try await RawConnection.closedWithoutHandshake(port: port)
            #expect(plain)
        }
    }
}

/// A client that writes raw bytes and reads until the server closes the connection.
enum RawConnection {
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received = Mutex<[UInt8]>([])
        let closed: EventLoopPromise<Void>
        let until: String?

        init(closed: EventLoopPromise<Void>, until: String? = nil) {
            self.closed = closed
            self.until = until
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            let text = received.withLock { received in
                received += Array(buffer.readableBytesView)
                return String(decoding: received, as: UTF8.self)
            }
            // Enough was seen: the client hangs up itself.
            if let until, text.contains(until) { context.close(promise: nil) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            closed.succeed(())
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    /// Over TLS trusting `trust`: sends `send` (nothing when empty) and returns what came back
    /// by the time the server closed the connection, or the reply contained `until` (within
    /// 30 s, or the test fails).
    static func exchange(port: Int, trust: TestTLS, send: [UInt8], until: String? = nil) async throws -> String {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(trust.certificatePEM.utf8)))
        let context = try NIOSSLContext(configuration: configuration)
        let group = MultiThreadedEventLoopGroup.singleton
        let closed = group.next().makePromise(of: Void.self)
        let collector = Collector(closed: closed, until: until)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        if !send.isEmpty { try await channel.writeAndFlush(ByteBuffer(bytes: send)).get() }
        try await withTimeout(closed.futureResult, channel: channel)
        return String(decoding: collector.received.withLock { $0 }, as: UTF8.self)
    }

    /// A plain TCP connection that never starts TLS: true when the server closed it.
    static func closedWithoutHandshake(port: Int) async throws -> Bool {
        let group = MultiThreadedEventLoopGroup.singleton
        let closed = group.next().makePromise(of: Void.self)
        let collector = Collector(closed: closed)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) } }
            .connect(host: "127.0.0.1", port: port).get()
        try await withTimeout(closed.futureResult, channel: channel)
        return true
    }

    /// Waits for `closed`, failing (and closing the channel) after 30 s.
    static func withTimeout(_ closed: EventLoopFuture<Void>, channel: any Channel) async throws {
        let deadline = channel.eventLoop.scheduleTask(in: .seconds(30)) { channel.close(promise: nil) }
        let started = ContinuousClock.now
        try await closed.get()
        deadline.cancel()
        #expect(ContinuousClock.now - started < .seconds(29), "the server did not close the connection")
    }
}
