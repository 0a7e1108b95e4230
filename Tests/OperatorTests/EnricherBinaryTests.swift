import Foundation
import KubeModels
import KubeTestServer
import Testing

@Suite(.serialized) struct EnricherBinaryTests {
    /// The `log-enricher` role as the DaemonSet runs it, with a file source and a host /proc
    /// laid out in a directory: the audit line of a pod's process becomes a JSON `audit` log
    /// record with upstream's fields and a counter on its HTTPS /metrics-spod.
    @Test func logEnricherReportsAPodsAuditRecordInItsLogAndMetrics() async throws {
        let id = String(repeating: "ab12", count: 16)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("enricher-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let pidDirectory = directory.appendingPathComponent("proc/4242")
        try FileManager.default.createDirectory(at: pidDirectory, withIntermediateDirectories: true)
        try "0::/kubepods.slice/kubepods-besteffort.slice/cri-containerd-\(id).scope\n".write(to: pidDirectory.appendingPathComponent("cgroup"), atomically: true, encoding: .utf8)
        try "4242 (nginx) S \(Array(repeating: "0", count: 18).joined(separator: " ")) 777 0 0\n".write(to: pidDirectory.appendingPathComponent("stat"), atomically: true, encoding: .utf8)
        let auditLog = directory.appendingPathComponent("audit.log")
        // Records from before the start are not reported again.
        try #"type=SECCOMP msg=audit(1.0:1): pid=4242 comm="nginx" exe="/usr/sbin/nginx" sig=0 arch=c000003e syscall=0 compat=0"# .appending("\n")
            .write(to: auditLog, atomically: true, encoding: .utf8)

        try await KubeTestServer.withServer(resources: operatorResources) { server in
            let kubeconfig = try writeKubeconfig(for: server)
            defer { try? FileManager.default.removeItem(at: kubeconfig) }
            var pod = Pod(metadata: ObjectMeta(name: "enricherpod", namespace: "default"), spec: ["nodeName": "node-1", "containers": [["name": "enrichercontainer", "image": "nginx"]]])
            pod.status = ["containerStatuses": [["name": "enrichercontainer", "containerID": .string("containerd://\(id)")]]]
            try server.seedRunning(pod)
            try applyMetricsClientRole(to: server)
            let scraperToken = "scraper-\(UUID().uuidString)"
            server.addServiceAccountToken(scraperToken, namespace: "security-profiles-operator", name: "default")

            let running = try OperatorProcess(
                ["log-enricher", "--kubeconfig", kubeconfig.path, "--audit-log", auditLog.path, "--proc", directory.appendingPathComponent("proc").path,
                 "--health-probe-host", "127.0.0.1", "--health-probe-port", "0", "--metrics-host", "127.0.0.1", "--metrics-port", "0", "--log-format", "json"],
                environment: ["NODE_NAME": "node-1", "OPERATOR_NAMESPACE": "security-profiles-operator"])
            _ = try await running.waitForRecord("Reading from file \(auditLog.path)")
            let health = try await running.waitForRecord("health.listening")
            let healthPort = try #require((health["http.port"] as? String).flatMap(Int.init))
            let deadline = ContinuousClock.now + convergenceTimeout
            while try await get("http://127.0.0.1:\(healthPort)/readyz").0 != 200, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            try await Task.sleep(for: .milliseconds(500))

            let handle = try FileHandle(forWritingTo: auditLog)
            try handle.seekToEnd()
            try handle.write(contentsOf: Data((#"type=SECCOMP msg=audit(1795347539.283:104): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=4242 comm="nginx" exe="/usr/sbin/nginx" sig=0 arch=c000003e syscall=50 compat=0 ip=0x7f3201f1df37 code=0x7ffc0000"# + "\n").utf8))
            try handle.close()

            let audit = try await running.waitForRecord("audit")
            #expect(audit["type"] as? String == "seccomp")
            // Numbers stay JSON numbers, as upstream's klog lines print them bare.
            #expect(audit["syscallName"] as? String == "listen" && audit["syscallID"] as? Int == 50)
            #expect(audit["executable"] as? String == "/usr/sbin/nginx" && audit["pid"] as? Int == 4242)
            #expect(audit["pod"] as? String == "enricherpod" && audit["container"] as? String == "enrichercontainer")
            #expect(audit["namespace"] as? String == "default" && audit["node"] as? String == "node-1")
            #expect(audit["timestamp"] as? String == "1795347539.283:104")

            let metrics = try await running.waitForRecord("metrics.listening")
            let metricsBase = "https://127.0.0.1:\(try #require((metrics["http.port"] as? String).flatMap(Int.init)))"
            #expect(try await getTLS(metricsBase + "/metrics-spod", trust: nil).0 == 401)
            let scraped = try await getTLS(metricsBase + "/metrics-spod", trust: nil, token: scraperToken)
            #expect(scraped.0 == 200)
            #expect(scraped.1.contains(#"security_profiles_operator_seccomp_profile_audit_total{node="node-1",namespace="default",pod="enricherpod",container="enrichercontainer",executable="/usr/sbin/nginx",syscall="listen"} 1"#), "\(scraped.1)")
            let check = try await promtoolCheck(scraped.1)
            #expect(check.status == 0, "\(check.output)")
            // It only lists and watches this node's pods, as the spod's role allows.
            #expect(server.requests.contains { $0.path == "/api/v1/pods" && $0.query["fieldSelector"] == "spec.nodeName=node-1" })
            let used = Set(server.requests.map(Permission.init))
            let granted = try Permission.granted(in: "deploy/rbac/daemon.yaml")
            #expect(used.subtracting(granted).isEmpty, "not granted: \(used.subtracting(granted))")

            #expect(try await running.stop() == 0)
            #expect(running.records.filter { $0["msg"] as? String == "audit" }.count == 1, "the record from before the start is not reported")
        }
    }
}
