import Foundation
import KubeModels
import KubeTestServer
import SPOAPI
import Testing
import Yams

/// The built `security-profiles-operator` binary, next to the test bundle in the build folder.
func operatorBinary() throws -> URL {
    try builtProduct("security-profiles-operator")
}

/// What a finished command printed (standard output and error together) and its exit status.
typealias CommandResult = ChildProcess.Result

/// Runs `executable` with `arguments` to completion; `environment` replaces the inherited one when given.
@discardableResult
func runToCompletion(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) async throws -> CommandResult {
    try await ChildProcess.run(executable.path, arguments, environment: environment)
}

/// A running operator process whose JSON log lines are collected from stderr.
final class OperatorProcess: @unchecked Sendable {
    let process = Process()
    private let pipe = Pipe()
    private let lines = NSLock()
    private var collected: [[String: Any]] = []
    private var partial = Data()

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = try operatorBinary()
        process.arguments = arguments
        // Never pick up the developer's cluster.
        var base = ProcessInfo.processInfo.environment
        base["KUBECONFIG"] = nil
        base["KUBERNETES_SERVICE_HOST"] = nil
        base["HOME"] = NSTemporaryDirectory()
        process.environment = base.merging(environment) { $1 }
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            self?.append(handle.availableData)
        }
        try process.run()
    }

    /// A test that fails before ``stop(signal:)`` must not leave the process behind.
    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    private func append(_ data: Data) {
        lines.lock()
        defer { lines.unlock() }
        partial.append(data)
        while let newline = partial.firstIndex(of: UInt8(ascii: "\n")) {
            let line = partial[partial.startIndex..<newline]
            partial = Data(partial[(newline + 1)...])
            if let record = try? JSONSerialization.jsonObject(with: line) as? [String: Any] {
                collected.append(record)
            }
        }
    }

    var records: [[String: Any]] {
        lines.lock()
        defer { lines.unlock() }
        return collected
    }

    /// Waits for a log record with message `msg`.
    func waitForRecord(_ msg: String, timeout: Duration = convergenceTimeout) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let record = records.first(where: { $0["msg"] as? String == msg }) { return record }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw LogRecordMissing(msg: msg, seen: records.compactMap { $0["msg"] as? String })
    }

    /// Sends `signal` and waits for the exit status.
    func stop(signal: Int32 = SIGTERM) async throws -> Int32 {
        kill(process.processIdentifier, signal)
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        pipe.fileHandleForReading.readabilityHandler = nil
        append(pipe.fileHandleForReading.readDataToEndOfFile() + Data("\n".utf8))
        return process.terminationStatus
    }
}

/// Writes a kubeconfig for `server` (namespace `spo-system`) and returns its path; removed by the caller.
func writeKubeconfig(for server: KubeTestServer) throws -> URL {
    let kubeconfig = FileManager.default.temporaryDirectory.appendingPathComponent("kubeconfig-\(UUID().uuidString).yaml")
    try """
        apiVersion: v1
        kind: Config
        clusters: [{name: test, cluster: {server: "\(server.url.absoluteString)"}}]
        users: [{name: test, user: {}}]
        contexts: [{name: test, context: {cluster: test, user: test, namespace: spo-system}}]
        current-context: test
        """.write(to: kubeconfig, atomically: true, encoding: .utf8)
    return kubeconfig
}

/// The operator's own resources plus the built-in ones.
let operatorResources = TestResource.builtIn + [
    TestResource(DaemonSet.self), TestResource(KubeService.self, statusSubresource: false), TestResource(Deployment.self),
    TestResource(MutatingWebhookConfiguration.self, statusSubresource: false),
]
    + CRDs.all.map { TestResource($0.resource, statusSubresource: $0.statusSubresource) }

struct LogRecordMissing: Error {
    var msg: String
    var seen: [String]
}

/// A test API server for a daemon process: a kubeconfig, an empty kubelet directory, the
/// SeccompProfile `default/log`, and a token of a client allowed to scrape the metrics.
func withDaemonCluster(_ body: (KubeTestServer, URL, String, String) async throws -> Void) async throws {
    try await KubeTestServer.withServer(resources: operatorResources) { server in
        let kubeconfig = try writeKubeconfig(for: server)
        let kubelet = FileManager.default.temporaryDirectory.appendingPathComponent("kubelet-\(UUID().uuidString)").path
        defer {
            try? FileManager.default.removeItem(at: kubeconfig)
            try? FileManager.default.removeItem(atPath: kubelet)
        }
        try server.seed(SeccompProfile(metadata: ObjectMeta(name: "log", namespace: "default"), spec: .init(defaultAction: .log)))
        try applyMetricsClientRole(to: server)
        let scraperToken = "scraper-\(UUID().uuidString)"
        server.addServiceAccountToken(scraperToken, namespace: "security-profiles-operator", name: "default")
        try await body(server, kubeconfig, kubelet, scraperToken)
    }
}

@Suite(.serialized) struct BinaryTests {
    @Test func daemonInstallsProfilesFromTheClusterAndStopsCleanlyOnSIGTERM() async throws {
        try await withDaemonCluster { server, kubeconfig, kubelet, scraperToken in
            // The first list of profiles is slow: readiness must wait for it.
            server.faults.inject(.delay(.seconds(2)), method: "GET", pathContains: "seccompprofiles")
            let running = try OperatorProcess(
                ["daemon", "--kubeconfig", kubeconfig.path, "--kubelet-dir", kubelet, "--health-probe-host", "127.0.0.1", "--health-probe-port", "0", "--metrics-host", "127.0.0.1", "--metrics-port", "0", "--log-format", "json"],
                environment: ["NODE_NAME": "node-1", "OPERATOR_NAMESPACE": "security-profiles-operator"])
            let started = try await running.waitForRecord("process.starting")
            #expect(started["role"] as? String == "daemon")
            #expect(started["level"] as? String == "info")
            #expect(started["ts"] is String)
            let listening = try await running.waitForRecord("health.listening")
            let port = try #require((listening["http.port"] as? String).flatMap(Int.init))
            #expect(try await get("http://127.0.0.1:\(port)/healthz") == (200, "ok"))
            #expect(try await get("http://127.0.0.1:\(port)/readyz") == (503, "not ready: seccomp-spod"))

            let file = "\(kubelet)/seccomp/operator/default/log.json"
            await eventually { FileManager.default.contents(atPath: file) != nil }
            #expect(FileManager.default.contents(atPath: file) == Data(#"{"defaultAction":"SCMP_ACT_LOG"}"#.utf8))
            #expect(await eventually { server.object(SecurityProfileNodeStatus.self, namespace: "default", name: "log-node-1")?.status == .installed })
            #expect(try await get("http://127.0.0.1:\(port)/readyz") == (200, "ok"))

            // Its counters on /metrics-spod, over HTTPS, for the metrics client only.
            let metrics = try await running.waitForRecord("metrics.listening")
            let metricsBase = "https://127.0.0.1:\(try #require((metrics["http.port"] as? String).flatMap(Int.init)))"
            #expect(try await getTLS(metricsBase + "/metrics-spod", trust: nil).0 == 401)
            let scraped = try await getTLS(metricsBase + "/metrics-spod", trust: nil, token: scraperToken)
            #expect(scraped.0 == 200)
            #expect(scraped.1.contains("security_profiles_operator_seccomp_profile_total{operation=\"update\"} 1\n"))
            let check = try await promtoolCheck(scraped.1)
            #expect(check.status == 0, "\(check.output)")
            let controller = try await getTLS(metricsBase + "/metrics", trust: nil, token: scraperToken).1
            #expect(controller.contains("controller_runtime_reconcile_total{controller="))
            #expect(controller.contains("rest_client_requests_total{code=\"200\",host=\"127.0.0.1:\(server.port)\",method=\"GET\"}"))
            // Every request the daemon made is granted by the shipped RBAC.
            let used = Set(server.requests.map(Permission.init))
            let granted = try Permission.granted(in: "deploy/rbac/daemon.yaml")
            #expect(used.subtracting(granted).isEmpty, "not granted: \(used.subtracting(granted))")

            #expect(try await running.stop() == 0)
            _ = try await running.waitForRecord("process.stopped")
            // Tokens never reach the logs.
            #expect(!running.records.contains { record in record.values.contains { "\($0)".contains(scraperToken) } })
        }
    }

    /// With AppArmor and SELinux enabled on this machine (no AppArmor in the kernel): each
    /// AppArmorProfile says so once, seccomp profiles are unaffected, the daemon is ready, and
    /// its requests for the new kinds are granted by the shipped RBAC.
    @Test func daemonWithAppArmorAndSelinuxReportsANodeWithoutAppArmor() async throws {
        try await withDaemonCluster { server, kubeconfig, kubelet, scraperToken in
            try server.seed(AppArmorProfile(metadata: ObjectMeta(name: "web", namespace: "default"), spec: .init(policy: "profile web { }")))
            let running = try OperatorProcess(
                ["daemon", "--kubeconfig", kubeconfig.path, "--kubelet-dir", kubelet, "--with-apparmor=true", "--with-selinux=true",
                 "--health-probe-host", "127.0.0.1", "--health-probe-port", "0", "--metrics-host", "127.0.0.1", "--metrics-port", "0"],
                environment: ["NODE_NAME": "node-1", "OPERATOR_NAMESPACE": "security-profiles-operator"])
            let unsupported = try await running.waitForRecord("apparmor.not_supported_on_node")
            #expect(unsupported["reason"] as? String == "AppArmor not supported on node")
            let listening = try await running.waitForRecord("health.listening")
            let port = try #require((listening["http.port"] as? String).flatMap(Int.init))

            func state(_ name: String) -> ProfileState? { server.object(SecurityProfileNodeStatus.self, namespace: "default", name: "\(name)-node-1")?.status }
            await eventually { state("web") == .error && state("log") == .installed }
            let status = server.object(SecurityProfileNodeStatus.self, namespace: "default", name: "web-node-1")
            #expect(status?.status == .error)
            #expect(status?.metadata.annotations?["spo.x-k8s.io/status-message"] == "AppArmor not supported on node")
            #expect(state("log") == .installed)
            #expect(try await get("http://127.0.0.1:\(port)/readyz") == (200, "ok"))

            let metrics = try await running.waitForRecord("metrics.listening")
            let metricsBase = "https://127.0.0.1:\(try #require((metrics["http.port"] as? String).flatMap(Int.init)))"
            let scraped = try await getTLS(metricsBase + "/metrics-spod", trust: nil, token: scraperToken)
            #expect(scraped.1.contains("security_profiles_operator_apparmor_profile_error_total{reason=\"AppArmorNotSupportedOnNode\"} 1\n"))
            let check = try await promtoolCheck(scraped.1)
            #expect(check.status == 0, "\(check.output)")
            let used = Set(server.requests.map(Permission.init))
            let granted = try Permission.granted(in: "deploy/rbac/daemon.yaml")
            #expect(used.subtracting(granted).isEmpty, "not granted: \(used.subtracting(granted))")
            #expect(used.contains { $0.resource == "selinuxprofiles" } && used.contains { $0.resource == "rawselinuxprofiles" })
            #expect(try await running.stop() == 0)
        }
    }

    @Test func daemonWithoutNodeNameFailsWithAClearError() async throws {
        let result = try await runToCompletion(try operatorBinary(), ["daemon"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(result.status != 0)
        #expect(result.output.contains("NODE_NAME"))
    }

    @Test func managerLeadsThroughALeaseAndReleasesItOnSIGTERM() async throws {
        try await KubeTestServer.withServer(resources: operatorResources) { server in
            let kubeconfig = try writeKubeconfig(for: server)
            defer { try? FileManager.default.removeItem(at: kubeconfig) }

            let running = try OperatorProcess(
                ["manager", "--kubeconfig", kubeconfig.path, "--health-probe-host", "127.0.0.1", "--health-probe-port", "0", "--metrics-host", "127.0.0.1", "--metrics-port", "0"],
                environment: ["RELATED_IMAGE_OPERATOR": "registry.example/spo:1.0"])
            let started = try await running.waitForRecord("process.starting")
            #expect(started["k8s.server"] as? String == server.url.absoluteString)
            let listening = try await running.waitForRecord("health.listening")
            let port = try #require((listening["http.port"] as? String).flatMap(Int.init))
            #expect(try await get("http://127.0.0.1:\(port)/healthz") == (200, "ok"))
            _ = try await running.waitForRecord("kube.leader.acquired")
            let lease = try #require(server.object(Lease.self, namespace: "spo-system", name: "security-profiles-operator-lock"))
            let holder = lease.spec?.holderIdentity ?? ""
            #expect(holder.hasPrefix(ProcessInfo.processInfo.hostName + "_"))
            #expect(lease.spec?.leaseDurationSeconds == 15)
            // As leader it creates the default spod and renders its DaemonSet.
            _ = try await running.waitForRecord("spod.daemonset.created")
            #expect(server.object(DaemonSet.self, namespace: "spo-system", name: "spod")?.spec?[path: ["template", "spec", "containers"]]?
                .arrayValue?.first?["image"] == "registry.example/spo:1.0")
            #expect(try await get("http://127.0.0.1:\(port)/readyz") == (200, "ok"))

            #expect(try await running.stop() == 0)
            _ = try await running.waitForRecord("kube.leader.released")
            #expect(server.object(Lease.self, namespace: "spo-system", name: "security-profiles-operator-lock")?.spec?.holderIdentity == "")

            // Every request the manager made is granted by the shipped RBAC.
            let used = Set(server.requests.map(Permission.init))
            let granted = try Permission.granted(in: "deploy/rbac/manager.yaml")
            #expect(used.subtracting(granted).isEmpty, "not granted: \(used.subtracting(granted))")
            #expect(used.count >= 20, "the informers' list and watch requests were seen: \(used)")
        }
    }

    @Test func managerWithoutAClusterFailsWithAClearError() async throws {
        let result = try await runToCompletion(try operatorBinary(), ["manager", "--kubeconfig", "/nonexistent/kubeconfig"])
        #expect(result.status != 0)
        #expect(result.output.contains("/nonexistent/kubeconfig"))
    }

    @Test func sigintAlsoStopsGracefully() async throws {
        try await KubeTestServer.withServer(resources: operatorResources) { server in
            let kubeconfig = try writeKubeconfig(for: server)
            defer { try? FileManager.default.removeItem(at: kubeconfig) }
            let running = try OperatorProcess(
                ["manager", "--kubeconfig", kubeconfig.path, "--no-leader-elect", "--health-probe-host", "127.0.0.1", "--health-probe-port", "0", "--metrics-host", "127.0.0.1", "--metrics-port", "0"],
                environment: ["RELATED_IMAGE_OPERATOR": "registry.example/spo:1.0"])
            _ = try await running.waitForRecord("health.listening")
            #expect(try await running.stop(signal: SIGINT) == 0)
            _ = try await running.waitForRecord("process.stopped")
        }
    }

    @Test func badArgumentsFailWithUsage() async throws {
        let result = try await runToCompletion(try operatorBinary(), ["daemon", "--log-format", "xml"])
        #expect(result.status != 0)
        #expect(result.output.contains("log-format"))
    }
}

/// One RBAC permission: an API group, a resource and a verb.
struct Permission: Hashable, CustomStringConvertible {
    var group: String
    var resource: String
    var verb: String

    var description: String { "\(verb) \(resource).\(group)" }

    init(group: String, resource: String, verb: String) {
        self.group = group
        self.resource = resource
        self.verb = verb
    }

    /// The permission an API request needs (`/api/v1/...` or `/apis/<group>/<version>/...`).
    init(_ request: KubeTestServer.RecordedRequest) {
        var parts = request.path.split(separator: "/").map(String.init)
        group = parts.first == "api" ? "" : parts[1]
        parts.removeFirst(parts.first == "api" ? 2 : 3)
        if parts.first == "namespaces", parts.count > 2 { parts.removeFirst(2) }
        resource = parts.count > 2 ? "\(parts[0])/\(parts[2])" : parts[0]
        let named = parts.count > 1
        switch request.method {
        case "GET": verb = named ? "get" : (request.query["watch"] == "true" ? "watch" : "list")
        case "POST": verb = "create"
        case "PUT": verb = "update"
        case "PATCH": verb = "patch"
        default: verb = named ? "delete" : "deletecollection"
        }
    }

    /// Every permission the Roles and ClusterRoles in a deploy file grant.
    static func granted(in relativePath: String) throws -> Set<Permission> {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent(relativePath), encoding: .utf8)
        let roles = try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }.filter { ["Role", "ClusterRole"].contains($0["kind"] as? String) }
        var permissions = Set<Permission>()
        for rule in roles.flatMap({ $0["rules"] as? [[String: Any]] ?? [] }) {
            for group in rule["apiGroups"] as? [String] ?? [] {
                for resource in rule["resources"] as? [String] ?? [] {
                    for verb in rule["verbs"] as? [String] ?? [] {
                        permissions.insert(Permission(group: group, resource: resource, verb: verb))
                    }
                }
            }
        }
        return permissions
    }
}
