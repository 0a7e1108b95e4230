import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import Logging
import SPOAPI
import SPOManager
import SPOManagerKit
import SPOServer
import SPOWebhook
import ServiceLifecycle
import Synchronization
import Testing

let operatorNamespace = "security-profiles-operator"

/// The whole admission path in one process: the test API server (which calls webhooks as
/// kube-apiserver does), a manager that renders the webhook configuration and keeps the
/// certificates, and a webhook server. The test plays the kubelet: it copies the Secret
/// `webhook-server-cert` into the webhook's certificate directory, as a Secret volume would.
struct WebhookHarness {
    let server: KubeTestServer
    let client: KubernetesClient
    let manager: OperatorManager
    let cache: AdmissionCache
    /// The webhook server's port, for faults (its Service can be routed elsewhere).
    let webhookPort: Int
    /// What the webhook presents.
    let certificate: ServingCertificate

    static let resources = TestResource.builtIn + [
        TestResource(DaemonSet.self), TestResource(KubeService.self, statusSubresource: false), TestResource(Deployment.self),
        TestResource(MutatingWebhookConfiguration.self, statusSubresource: false),
    ] + CRDs.all.map { TestResource($0.resource, statusSubresource: $0.statusSubresource) }
    static let reflector = ReflectorStateMachine.Configuration(backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(200), jitter: 0))
    /// Lifetimes long enough for any test but those that rotate.
    static let longLived = WebhookCertificatePlan.Policy(caLifetime: 3600, servingLifetime: 1800, settle: 0.2)

    static func run(policy: WebhookCertificatePlan.Policy = longLived, _ body: (WebhookHarness) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("webhook-certs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = Logger(label: "test.webhook")
        try await KubeTestServer.withServer(resources: resources) { server in
            try server.seed(Namespace(metadata: ObjectMeta(name: operatorNamespace)))
            try await KubernetesClient.withClient(configuration: server.clientConfiguration()) { client in
                let configuration = ManagerConfiguration(
                    operatorNamespace: operatorNamespace, daemonSet: DaemonSetSettings(image: "registry.example/spo:1.0"),
                    webhook: WebhookSettings(image: "registry.example/spo:1.0"), webhookCertificatePolicy: policy)
                let manager = OperatorManager(client: client, configuration: configuration, reflector: reflector)
                let cache = AdmissionCache(client: client, logger: logger)
                let events = EventQueue(recorder: EventRecorder(client: client, component: "security-profiles-operator-webhook"))
                let handler = AdmissionHandler(cache: cache, operatorNamespace: operatorNamespace, events: events, logger: logger)
                let certificate = try ServingCertificate(directory: directory.path, hostnames: ["webhook-service.\(operatorNamespace).svc"])
                let (ports, listening) = AsyncStream.makeStream(of: Int.self)
                let webhook = WebhookServer(host: "127.0.0.1", port: 0, certificate: certificate, handler: handler, logger: logger) { port in
                    listening.yield(port)
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try? await manager.run() }
                    for informer in cache.informers { group.addTask { try? await informer.run() } }
                    group.addTask { try? await events.run() }
                    group.addTask { try? await webhook.run() }
                    group.addTask { await Self.mountSecret(server: server, into: directory) }
                    defer { group.cancelAll() }
                    var iterator = ports.makeAsyncIterator()
                    let port = try #require(await iterator.next())
                    server.routeService(namespace: operatorNamespace, name: WebhookRenderer.serviceName, toPort: port)
                    let harness = WebhookHarness(server: server, client: client, manager: manager, cache: cache, webhookPort: port, certificate: certificate)
                    // Ready as a webhook pod: caches synced, the mounted certificate in use, the CA injected.
                    try #require(await eventually { cache.hasSynced && certificate.servesDirectoryCertificate && harness.configuration?.webhooks?.first?.clientConfig.caBundle != nil })
                    try await body(harness)
                }
            }
        }
    }

    /// What the kubelet does for a Secret volume: every key is a symlink into `..data`, itself a
    /// symlink to a timestamped directory holding one version of all files; a new version is
    /// written to a new directory and `..data` swapped in one rename, so a reader sees either
    /// the old files or the new ones (here checked every 20 ms).
    static func mountSecret(server: KubeTestServer, into directory: URL) async {
        var last: [String: String] = [:]
        var version = 0
        while !Task.isCancelled {
            if let secret = server.object(Secret.self, namespace: operatorNamespace, name: WebhookRenderer.certificateSecretName),
               let data = secret.data, data != last {
                version += 1
                let snapshot = "..\(version)"
                let target = directory.appendingPathComponent(snapshot)
                try? FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
                for (key, value) in data {
                    guard let bytes = Data(base64Encoded: value) else { continue }
                    try? bytes.write(to: target.appendingPathComponent(key))
                    let link = directory.appendingPathComponent(key).path
                    if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == nil {
                        try? FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "..data/\(key)")
                    }
                }
                let staged = directory.appendingPathComponent("..data_tmp").path
                unlink(staged)
                _ = symlink(snapshot, staged)
                _ = rename(staged, directory.appendingPathComponent("..data").path)
                last = data
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    var configuration: MutatingWebhookConfiguration? {
        server.object(MutatingWebhookConfiguration.self, name: WebhookRenderer.configurationName)
    }

    func namespace(_ name: String, labels: [String: String]) throws {
        try server.seed(Namespace(metadata: ObjectMeta(name: name, labels: labels)))
    }

    /// A SeccompProfile the nodes reported on (its status set, as the manager's aggregation does).
    @discardableResult
    func installedSeccompProfile(_ namespace: String, _ name: String) throws -> SeccompProfile {
        try server.seed(SeccompProfile(metadata: ObjectMeta(name: name, namespace: namespace), spec: .init(defaultAction: .errno)))
        return try server.modifyStatus(SeccompProfile.self, namespace: namespace, name: name) { profile in
            profile.status = .init(status: .installed, localhostProfile: SeccompProfile.localhostProfile(namespace: namespace, name: name))
        }
    }

    func binding(_ namespace: String, _ name: String, profile: String, kind: BoundProfileKind = .seccompProfile, image: String) async throws {
        _ = try await client.resource(ProfileBinding.self).create(ProfileBinding(
            metadata: ObjectMeta(name: name, namespace: namespace), spec: .init(profileRef: .init(kind: kind, name: profile), image: image)))
        // The webhook answers from its cache.
        try #require(await eventually { cache.bindings.store.get(name: name, namespace: namespace) != nil })
    }

    func pod(_ namespace: String, _ name: String, image: String, labels: [String: String]? = nil, generateName: Bool = false) -> Pod {
        var metadata = generateName ? ObjectMeta(generateName: name, namespace: namespace) : ObjectMeta(name: name, namespace: namespace)
        metadata.labels = labels
        return Pod(metadata: metadata, spec: ["containers": [["name": "app", "image": .string(image)]]])
    }

    func create(_ pod: Pod, dryRun: Bool = false) async throws -> Pod {
        try await client.resource(Pod.self).create(pod, dryRun: dryRun)
    }

    static func seccompProfile(of pod: Pod) -> JSONValue? {
        pod.spec?["containers"]?.arrayValue?.first?[path: ["securityContext", "seccompProfile"]]
    }
}
