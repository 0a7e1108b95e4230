import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import Synchronization

/// Runs `body` with a client connected to a fresh test API server that serves widgets.
func withClient<T: Sendable>(
    historyLimit: Int = 1000,
    _ body: (KubernetesClient, KubeTestServer) async throws -> T
) async throws -> T {
    try await KubeTestServer.withServer(resources: TestResource.withWidgets, historyLimit: historyLimit) { server in
        try await KubernetesClient.withClient(configuration: server.clientConfiguration()) { client in
            try await body(client, server)
        }
    }
}

/// Runs `service` in the background while `body` runs, then cancels it.
func whileRunning<T: Sendable>(_ services: [any Sendable & ServiceRunnable], _ body: () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for service in services {
            group.addTask { try? await service.run() }
        }
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        group.cancelAll()
        try? await group.waitForAll()
        return try result.get()
    }
}

/// The `run()` of a service, for ``whileRunning(_:_:)``.
protocol ServiceRunnable {
    func run() async throws
}

extension Informer: ServiceRunnable {}
extension Controller: ServiceRunnable {}
extension LeaderElector: ServiceRunnable {}

/// Collects what an informer's handlers saw, as "add a", "update a", "delete a".
final class DeltaLog: Sendable {
    private let entries = Mutex<[String]>([])

    var all: [String] { entries.withLock { $0 } }

    func handler<Object: KubeResource>(for type: Object.Type = Object.self) -> InformerHandler<Object> {
        InformerHandler(
            onAdd: { object in self.entries.withLock { $0.append("add \(object.metadata.name ?? "")") } },
            onUpdate: { _, new in self.entries.withLock { $0.append("update \(new.metadata.name ?? "")") } },
            onDelete: { object in self.entries.withLock { $0.append("delete \(object.metadata.name ?? "")") } })
    }
}

extension KubeTestServer {
    /// Number of list (non-watch) requests for `resource` answered so far.
    func listCount(_ plural: String) -> Int {
        requests.filter { $0.method == "GET" && $0.path.hasSuffix("/\(plural)") && $0.query["watch"] != "true" }.count
    }

    /// Name and resourceVersion of every stored object of `resource`.
    func versions(_ resource: GroupVersionResource) -> [String: String] {
        var result: [String: String] = [:]
        for object in objects(resource) {
            if let name = object[path: ["metadata", "name"]]?.stringValue {
                result[name] = object[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
            }
        }
        return result
    }
}

extension Store {
    /// Name and resourceVersion of every cached object.
    var versions: [String: String] {
        var result: [String: String] = [:]
        for object in list() { result[object.metadata.name ?? ""] = object.metadata.resourceVersion ?? "" }
        return result
    }
}

/// Fast reflector timings for tests.
let fastReflector = ReflectorStateMachine.Configuration(
    backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(200), jitter: 0),
    minimumWatchTimeout: .seconds(60))
