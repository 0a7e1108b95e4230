import ArgumentParser
import Foundation
import KubeClient
import KubeRuntime
import Logging
import NIOCore
import SPOManagerKit
import SPOServer
import SPOWebhook
import ServiceLifecycle

extension SecurityProfilesOperator {
    /// The admission webhooks (the `security-profiles-operator-webhook` Deployment): ProfileBinding
    /// and recording mutations of pods, over HTTPS.
    struct WebhookRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "webhook", abstract: "Serve the ProfileBinding and recording admission webhooks.", aliases: ["w"])

        @OptionGroup var options: ProcessOptions
        @OptionGroup var cluster: ClusterOptions

        @Option(help: "The address the webhooks listen on.")
        var host = "0.0.0.0"

        @Option(name: .shortAndLong, help: "The HTTPS port of the webhooks.")
        var port = WebhookRenderer.port

        @Option(help: "The directory with tls.crt and tls.key (the mounted Secret webhook-server-cert), re-read when they change.")
        var certDir = WebhookRenderer.certificateDirectory

        @Flag(name: .shortAndLong, help: "Accepted for compatibility with upstream's flag; has no effect.")
        var `static` = false

        func run() async throws {
            // One event loop: the webhook pods get a quarter of a core each (upstream's
            // requests), TLS for the API server's few kept-alive connections fits on one thread,
            // and a second loop cost a thread, its malloc arena and the hand-overs between them.
            NIOSingletons.groupLoopCountSuggestion = 1
            options.bootstrap()
            let logger = Logger(label: "spo.webhook")
            let configuration = try cluster.loadConfiguration(qps: 50, burst: 100)
            let namespace = ProcessInfo.processInfo.environment["OPERATOR_NAMESPACE"] ?? configuration.namespace
            let certificate = try ServingCertificate(directory: certDir, hostnames: WebhookRenderer.hostnames(namespace: namespace))
            if certificate.isSelfSigned {
                logger.warning("webhook.certificate.missing", metadata: [
                    "tls.dir": "\(certDir)", "detail": "no tls.crt and tls.key yet: not ready until the Secret webhook-server-cert is mounted",
                ])
            }
            try await KubernetesClient.withClient(configuration: configuration) { client in
                let cache = AdmissionCache(client: client, logger: logger)
                let events = EventQueue(recorder: EventRecorder(client: client, component: "security-profiles-operator-webhook", logger: logger))
                let handler = AdmissionHandler(cache: cache, operatorNamespace: namespace, events: events, logger: logger)
                let server = WebhookServer(host: host, port: port, certificate: certificate, handler: handler, logger: logger)
                try await runRole(
                    "webhook", options: options, services: cache.informers + [events, server], server: configuration.server.absoluteString,
                    checks: [
                        HealthServer.Check(name: "admission-caches") { cache.hasSynced },
                        HealthServer.Check(name: "serving-certificate") { certificate.servesDirectoryCertificate },
                    ],
                    defaultHealthPort: WebhookRenderer.healthPort)
            }
        }
    }
}
