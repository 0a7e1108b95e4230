import AuditKit
import AuditSources
import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import Logging
import MetricsTestKit
import SPOEnricher
import Synchronization
import Testing

/// A cgroup named like a containerd container, on a hierarchy of this machine, so that a real
/// process's `/proc/<pid>/cgroup` names the container id.
struct ContainerCgroup {
    let root: String
    let path: String

    init(id: String) throws {
        let hierarchies = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        for hierarchy in hierarchies where FileManager.default.fileExists(atPath: "\(hierarchy)/cgroup.procs") {
            let root = "\(hierarchy)/spo-test-kubepods-\(UUID().uuidString.prefix(8))"
            let path = "\(root)/pod1234/\(id)"
            if (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)) != nil,
               FileManager.default.fileExists(atPath: "\(path)/cgroup.procs") {
                self.root = root
                self.path = path
                return
            }
            try? FileManager.default.removeItem(atPath: root)
        }
        throw NoWritableCgroup()
    }

    /// Removes the (empty) cgroups, innermost first.
    func remove() {
        for directory in [path, URL(fileURLWithPath: path).deletingLastPathComponent().path, root] {
            for _ in 0..<50 where rmdir(directory) != 0 && errno == EBUSY { usleep(20_000) }
        }
    }
}

struct NoWritableCgroup: Error, CustomStringConvertible {
    var description: String { "no writable cgroup hierarchy under /sys/fs/cgroup (the test runs as root on the host)" }
}

let kernelLogReadable = getuid() == 0 && access("/dev/kmsg", R_OK) == 0

@Suite(.serialized) struct KernelEnricherTests {
    /// The whole path for real: a SCMP_ACT_LOG profile loaded into a process in a container's
    /// cgroup makes the kernel print a `type=1326` line in /dev/kmsg; the enricher reads it, finds
    /// the container id in the process's /proc/<pid>/cgroup, and the pod through a node-scoped
    /// pod informer on the test API server.
    @Test(.enabled(if: kernelLogReadable, "needs root and /dev/kmsg"))
    func aRealSeccompLogRecordIsAttributedToItsPodContainer() async throws {
        let id = (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined()
        let cgroup = try ContainerCgroup(id: id)
        defer { cgroup.remove() }
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString).json")
        try #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chdir"],"action":"SCMP_ACT_LOG"}]}"#
            .write(to: profile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: profile) }
        let binary = try builtProduct("security-profiles-operator")
        let logs = LogCapture()
        let metrics = TestMetrics()

        try await withoutPrintkRateLimit {
            try await KubeTestServer.withServer(resources: TestResource.builtIn) { server in
                try server.seedRunning(runningPod("default", "enricherpod", containers: [("enrichercontainer", id)]))
                try server.seedRunning(runningPod("default", "elsewhere", node: "node-2", containers: [("other", containerID("f"))]))
                try await KubernetesClient.withClient(configuration: server.clientConfiguration()) { client in
                    let pods = NodePodIndex()
                    let informer = pods.informer(client: client, node: "node-1", logger: logs.logger)
                    let enricher = LogEnricher(
                        source: KmsgAuditSource(pollInterval: .milliseconds(20)), processes: ProcFilesystem(), pods: pods,
                        configuration: LogEnricherConfiguration(node: "node-1"), logger: logs.logger, metricsFactory: metrics)
                    let received = Locked<[EnrichedAuditEvent]>([])
                    let stream = enricher.events()
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await informer.run() }
                        group.addTask { try await enricher.run() }
                        group.addTask { for await event in stream { received.withLock { $0.append(event) } } }
                        defer { group.cancelAll() }
                        await informer.waitForSync()
                        #expect(pods.count == 1, "only this node's pods are watched")
                        // Let the source open /dev/kmsg and move to its end.
                        try await Task.sleep(for: .milliseconds(300))

                        // The shell joins the container's cgroup, then runs under the profile; it
                        // stays until the test has the record, since the enricher reads its
                        // /proc/<pid>/cgroup after the kernel line arrives (late on a loaded machine).
                        let release = profile.path + ".release"
                        defer { try? FileManager.default.removeItem(atPath: release) }
                        async let child = ChildProcess.run("/bin/sh", [
                            "-c", #"echo $$ > "$0/cgroup.procs" && exec "$1" seccomp-exec --profile "$2" -- /bin/sh -c 'cd /; while [ ! -e "$0" ]; do sleep 0.05; done' "$3""#,
                            cgroup.path, binary.path, profile.path, release,
                        ])
                        let arrived = await eventually { received.withLock { $0.contains { $0.syscallName == "chdir" } } }
                        _ = FileManager.default.createFile(atPath: release, contents: nil)
                        let finished = try await child
                        #expect(finished.status == 0, "\(finished.output)")
                        #expect(arrived)
                        let event = try #require(received.withLock { $0.first { $0.syscallName == "chdir" } })
                        #expect(event.container == ContainerIdentity(namespace: "default", pod: "enricherpod", container: "enrichercontainer", containerID: id))
                        #expect(event.event.details == .seccomp(syscall: 80, arch: 0xc000003e))
                        #expect(event.event.executable.hasSuffix("sh") || event.event.executable.hasSuffix("dash"))

                        let audit = try #require(logs.audits.first { $0["syscallName"] == "chdir" })
                        #expect(audit["pod"] == "enricherpod" && audit["container"] == "enrichercontainer" && audit["namespace"] == "default")
                        #expect(audit["node"] == "node-1" && audit["syscallID"] == "80" && audit["type"] == "seccomp")
                        #expect(audit["pid"] == String(event.event.pid) && audit["timestamp"] == event.event.timestamp)
                        let count = try metrics.expectCounter("security_profiles_operator_seccomp_profile_audit_total", [
                            ("node", "node-1"), ("namespace", "default"), ("pod", "enricherpod"), ("container", "enrichercontainer"),
                            ("executable", event.event.executable), ("syscall", "chdir"),
                        ])
                        #expect(count.totalValue == 1)
                    }
                }
            }
        }
    }

    /// The kernel really drops records: with a limit of 3 per 2 s, a command whose every
    /// syscall logs makes the kernel suppress most of them; the next record after the window
    /// comes with `kauditd_printk_skb: N callbacks suppressed`, which the enricher counts.
    @Test(.enabled(if: kernelLogReadable, "needs root and /dev/kmsg"))
    func recordsTheKernelDropsAreCountedAndReported() async throws {
        let binary = try builtProduct("security-profiles-operator")
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("log-all-\(UUID().uuidString).json")
        try #"{"defaultAction":"SCMP_ACT_LOG"}"#.write(to: profile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: profile) }
        let logs = LogCapture()
        let metrics = TestMetrics()
        try await withPrintkRateLimit(intervalSeconds: 2, burst: 3) {
            let enricher = LogEnricher(
                source: KmsgAuditSource(pollInterval: .milliseconds(20)), processes: ProcFilesystem(), pods: nil,
                configuration: LogEnricherConfiguration(node: "node-1"), logger: logs.logger, metricsFactory: metrics)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await enricher.run() }
                defer { group.cancelAll() }
                try await Task.sleep(for: .milliseconds(300))
                // Every syscall of ls logs: about a hundred records within a few milliseconds.
                let flood = try await ChildProcess.run(binary.path, ["seccomp-exec", "--profile", profile.path, "--", "/bin/ls", "/"])
                #expect(flood.status == 0, "\(flood.output)")
                // The kernel reports the window's suppressions with the first record after it.
                try await Task.sleep(for: .milliseconds(2200))
                let next = try await ChildProcess.run(binary.path, ["seccomp-exec", "--profile", profile.path, "--", "/bin/true"])
                #expect(next.status == 0, "\(next.output)")
                func lost() -> Int64 {
                    (try? metrics.expectCounter("security_profiles_operator_audit_records_lost_total", [("source", "kmsg")]).totalValue) ?? 0
                }
                #expect(await eventually { lost() >= 20 }, "lost: \(lost())")
                let warnings = { logs.records.filter { $0.message == "enricher.records_lost" } }
                #expect(warnings().allSatisfy { $0.metadata["audit.cause"] == "the kernel's printk rate limit" })
                // Every count is both logged and counted (later notices may still arrive).
                #expect(await eventually {
                    let logged = warnings().compactMap { Int64($0.metadata["audit.lost"] ?? "") }.reduce(0, +)
                    return logged == lost() && Int64(enricher.recordsLost) == logged
                })
            }
        }
    }
}
