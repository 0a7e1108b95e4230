import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import Logging
import MetricsTestKit
import SPOAPI
import SPODaemon
import ServiceLifecycle
import Testing

/// A daemon of one or more profile kinds against the test API server, on node `node-1`.
struct NodeProfileHarness {
    let client: KubernetesClient
    let server: KubeTestServer
    let metrics: TestMetrics
    let node = "node-1"
    static let identity = DaemonIdentity(nodeName: "node-1", operatorNamespace: "security-profiles-operator")
    static let reflector = ReflectorStateMachine.Configuration(backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(200), jitter: 0))

    /// Runs `body` while the services `build` makes run; `prepare` may seed objects first.
    static func run(
        prepare: (KubeTestServer) throws -> Void = { _ in },
        build: (KubernetesClient, TestMetrics) -> (services: [any Service], synced: @Sendable () -> Bool),
        _ body: (NodeProfileHarness) async throws -> Void
    ) async throws {
        let metrics = TestMetrics()
        try await KubeTestServer.withServer(resources: DaemonHarness.resources) { server in
            try prepare(server)
            try await KubernetesClient.withClient(configuration: server.clientConfiguration()) { client in
                let (services, synced) = build(client, metrics)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for service in services {
                        group.addTask { try? await service.run() }
                    }
                    defer { group.cancelAll() }
                    _ = await eventually { synced() }
                    try await body(NodeProfileHarness(client: client, server: server, metrics: metrics))
                }
            }
        }
    }

    func nodeStatus(_ namespace: String, _ profile: String) -> SecurityProfileNodeStatus? {
        server.object(SecurityProfileNodeStatus.self, namespace: namespace, name: "\(profile)-\(node)")
    }

    func state(_ namespace: String, _ profile: String) -> ProfileState? { nodeStatus(namespace, profile)?.status }

    func message(_ namespace: String, _ profile: String) -> String? {
        nodeStatus(namespace, profile)?.metadata.annotations?["spo.x-k8s.io/status-message"]
    }

    func events(reason: String) -> [Event] {
        server.objects(Event.resource).compactMap { try? $0.decode(as: Event.self) }.filter { $0.reason == reason }
    }

    /// The total of a counter series, 0 when it was never incremented.
    func counter(_ name: String, _ dimensions: [(String, String)]) -> Int64 {
        (try? metrics.expectCounter(name, dimensions).totalValue) ?? 0
    }

    /// Adds a finalizer standing for the manager's in-use tracking, or removes it.
    func setInUse<Profile: KubeResource>(_ type: Profile.Type, _ namespace: String, _ name: String, _ inUse: Bool) throws {
        _ = try server.modify(type, namespace: namespace, name: name) { object in
            if inUse {
                object.metadata.finalizers = (object.metadata.finalizers ?? []) + ["in-use-by-active-pods"]
            } else {
                object.metadata.finalizers?.removeAll { $0 == "in-use-by-active-pods" }
            }
        }
    }
}
