import AuditKit
import KubeModels
import KubeTestServer
import MetricsTestKit
import SPOEnricher
import Testing

@Suite struct ResolutionTests {
    @Test func aReusedPidIsNeverAttributedToItsOldContainer() {
        let processes = FakeProcesses()
        processes.add(10, cgroup: cgroupText(containerID("a")), start: 100)
        var resolver = ProcessContainerResolver(processes: processes, verifyInterval: .seconds(1))
        let start = ContinuousClock.now
        #expect(resolver.containerID(of: 10, now: start) == containerID("a"))
        #expect(resolver.containerID(of: 10, now: start + .milliseconds(500)) == containerID("a"))
        #expect(processes.cgroupReads == 1, "cached within the verify interval")
        // The pid now belongs to a new process in another container.
        processes.add(10, cgroup: cgroupText(containerID("b")), start: 200)
        #expect(resolver.containerID(of: 10, now: start + .seconds(2)) == containerID("b"))
        // Same process later: the start time matches, no new cgroup read.
        #expect(resolver.containerID(of: 10, now: start + .seconds(4)) == containerID("b"))
        #expect(processes.cgroupReads == 2)
        // A process that exited keeps its last known container; an unknown pid has none.
        processes.remove(10)
        #expect(resolver.containerID(of: 10, now: start + .seconds(6)) == containerID("b"))
        #expect(resolver.containerID(of: 11, now: start) == nil)
    }

    @Test func theCacheIsBounded() {
        let processes = FakeProcesses()
        for pid in Int32(1)...50 { processes.add(pid, cgroup: "0::/\n") }
        var resolver = ProcessContainerResolver(processes: processes, capacity: 16)
        for pid in Int32(1)...50 { _ = resolver.containerID(of: pid, now: .now) }
        #expect(resolver.cached <= 16)
    }

    @Test func podsAreIndexedByTheirStartedContainersWithTheirRecordingAnnotation() {
        let index = NodePodIndex()
        var pod = runningPod(
            "apps", "web", containers: [("nginx", containerID("a")), ("sidecar", containerID("b"))],
            annotations: ["io.containers.trace-logs/nginx": "rec_nginx_1", "io.containers.trace-avcs/sidecar": "rec_sidecar_1"])
        pod.status?["initContainerStatuses"] = [["name": "init", "containerID": .string("cri-o://\(containerID("c"))")]]
        // A container that has not started has no id yet.
        let started = pod.status?["containerStatuses"]?.arrayValue ?? []
        pod.status?["containerStatuses"] = .array(started + [["name": "late", "containerID": ""]])
        index.update(pod)
        #expect(index.identity(of: containerID("a")) == ContainerIdentity(namespace: "apps", pod: "web", container: "nginx", containerID: containerID("a"), recordProfile: "rec_nginx_1"))
        #expect(index.identity(of: containerID("b"))?.recordProfile == "rec_sidecar_1")
        #expect(index.identity(of: containerID("c"))?.container == "init")
        #expect(index.count == 3)
        // A restart replaces the container id; a deletion removes the pod's ids.
        index.update(runningPod("apps", "web", containers: [("nginx", containerID("d"))]))
        #expect(index.identity(of: containerID("a")) == nil && index.identity(of: containerID("d"))?.pod == "web")
        index.remove(runningPod("apps", "web", containers: []))
        #expect(index.count == 0)
    }
}

/// The enricher with a scripted source, a fake process table and a pod index.
struct EnricherHarness {
    let source = ScriptedSource()
    let processes = FakeProcesses()
    let pods = NodePodIndex()
    let logs = LogCapture()
    let metrics = TestMetrics()

    func run(
        configure: (inout LogEnricherConfiguration) -> Void = { _ in },
        _ body: (LogEnricher) async throws -> Void
    ) async throws {
        var configuration = LogEnricherConfiguration(node: "node-1")
        configure(&configuration)
        let enricher = LogEnricher(
            source: source, processes: processes, pods: pods, configuration: configuration, logger: logs.logger, metricsFactory: metrics)
        let task = Task { try await enricher.run() }
        defer { task.cancel() }
        try await body(enricher)
    }

    func seccompCount(pod: String, container: String, namespace: String, syscall: String, executable: String = "/usr/sbin/nginx") -> Int64? {
        try? metrics.expectCounter("security_profiles_operator_seccomp_profile_audit_total", [
            ("node", "node-1"), ("namespace", namespace), ("pod", pod), ("container", container), ("executable", executable), ("syscall", syscall),
        ]).totalValue
    }
}

@Suite struct EnricherPipelineTests {
    @Test func recordsOfKnownContainersAreLoggedCountedAndPublished() async throws {
        let harness = EnricherHarness()
        harness.processes.add(100, cgroup: cgroupText(containerID("a")))
        harness.pods.update(runningPod("default", "enricherpod", containers: [("enrichercontainer", containerID("a"))]))
        try await harness.run { enricher in
            var events = enricher.events().makeAsyncIterator()
            harness.source.push([seccompLine(pid: 100, syscall: 50), "unrelated kernel chatter"])
            let event = try #require(await events.next())
            #expect(event.container?.pod == "enricherpod" && event.syscallName == "listen")
            #expect(await eventually { harness.logs.audits.count == 1 })
            let audit = try #require(harness.logs.audits.first)
            #expect(audit["type"] == "seccomp" && audit["syscallName"] == "listen" && audit["syscallID"] == "50")
            #expect(audit["pod"] == "enricherpod" && audit["container"] == "enrichercontainer" && audit["namespace"] == "default")
            #expect(audit["node"] == "node-1" && audit["executable"] == "/usr/sbin/nginx" && audit["pid"] == "100")
            #expect(audit["timestamp"] == "1700000000.1:1")
            #expect(harness.seccompCount(pod: "enricherpod", container: "enrichercontainer", namespace: "default", syscall: "listen") == 1)
        }
    }

    @Test func aFloodIsOneLinePerWindowWhileTheCountersStayExact() async throws {
        let harness = EnricherHarness()
        harness.processes.add(100, cgroup: cgroupText(containerID("a")))
        harness.pods.update(runningPod("default", "p", containers: [("c", containerID("a"))]))
        try await harness.run(configure: { $0.dedupWindow = .milliseconds(300) }) { _ in
            harness.source.push((1...5000).map { seccompLine(pid: 100, syscall: 39, serial: $0) })
            harness.source.push([seccompLine(pid: 100, syscall: 0, serial: 9999)])
            #expect(await eventually { harness.seccompCount(pod: "p", container: "c", namespace: "default", syscall: "read") == 1 })
            #expect(harness.seccompCount(pod: "p", container: "c", namespace: "default", syscall: "getpid") == 5000)
            // After the window: the first getpid line, the read line, and one summary of 4,999.
            #expect(await eventually { harness.logs.audits.count == 3 })
            let getpid = harness.logs.audits.filter { $0["syscallName"] == "getpid" }
            #expect(getpid.count == 2)
            #expect(getpid.first?["repeated"] == nil && getpid.last?["repeated"] == "4999")
        }
    }

    @Test func recordsWaitForAStartingContainersPodThenGoOutWithIt() async throws {
        let harness = EnricherHarness()
        harness.processes.add(200, cgroup: cgroupText(containerID("b")))
        try await harness.run { _ in
            harness.source.push([seccompLine(pid: 200, syscall: 83, serial: 1), seccompLine(pid: 200, syscall: 80, serial: 2)])
            try await Task.sleep(for: .milliseconds(200))
            #expect(harness.logs.audits.isEmpty, "held while no pod lists the container")
            harness.pods.update(runningPod("apps", "starting", containers: [("app", containerID("b"))]))
            #expect(await eventually { harness.logs.audits.count == 2 })
            #expect(harness.logs.audits.map { $0["syscallName"] } == ["mkdir", "chdir"], "in their original order")
            #expect(harness.logs.audits.allSatisfy { $0["pod"] == "starting" && $0["container"] == "app" })
        }
    }

    @Test func recordsOfUnknownContainersGoOutWithoutAPodAfterTheTimeout() async throws {
        let harness = EnricherHarness()
        harness.processes.add(300, cgroup: cgroupText(containerID("c")))
        harness.processes.add(400, cgroup: "0::/user.slice/session-1.scope\n")
        try await harness.run(configure: { $0.backlogTimeout = .milliseconds(300) }) { _ in
            harness.source.push([seccompLine(pid: 400, syscall: 83, exe: "/usr/bin/mkdir"), seccompLine(pid: 300, syscall: 80, exe: "/bin/sh")])
            // The host process is not held back.
            #expect(await eventually { harness.logs.audits.count == 1 })
            #expect(harness.logs.audits.first?["pod"] == "" && harness.logs.audits.first?["containerID"] == nil)
            #expect(await eventually { harness.logs.audits.count == 2 })
            let late = try #require(harness.logs.audits.last)
            #expect(late["pod"] == "" && late["containerID"] == containerID("c") && late["syscallName"] == "chdir")
            #expect(harness.seccompCount(pod: "", container: "", namespace: "", syscall: "chdir", executable: "/bin/sh") == 1)
        }
    }

    @Test func theBacklogIsBoundedAndNothingIsLost() async throws {
        let harness = EnricherHarness()
        harness.processes.add(500, cgroup: cgroupText(containerID("d")))
        try await harness.run(configure: {
            $0.backlogPerContainer = 10
            $0.backlogTimeout = .seconds(60)
            $0.dedupWindow = .zero
        }) { _ in
            harness.source.push((1...25).map { seccompLine(pid: 500, syscall: 39, serial: $0) })
            // 15 overflowed without a pod; 10 wait.
            #expect(await eventually { harness.logs.audits.count == 15 })
            harness.pods.update(runningPod("apps", "p", containers: [("c", containerID("d"))]))
            #expect(await eventually { harness.logs.audits.count == 25 })
            #expect(harness.logs.audits.suffix(10).allSatisfy { $0["pod"] == "p" })
            #expect(harness.logs.audits.map { $0["timestamp"] } == (1...25).map { "1700000000.\($0):\($0)" })
        }
    }

    @Test func selinuxAndAppArmorRecordsAreEnrichedToo() async throws {
        let harness = EnricherHarness()
        harness.processes.add(75593, cgroup: cgroupText(containerID("e")))
        harness.processes.add(4166, cgroup: cgroupText(containerID("e")))
        harness.pods.update(runningPod("apps", "p", containers: [("c", containerID("e"))], annotations: ["io.containers.trace-avcs/c": "rec_c_1"]))
        try await harness.run { _ in
            harness.source.push([
                #"type=AVC msg=audit(1613173578.156:2945): avc:  denied  { read } for  pid=75593 comm="nginx" name="token" dev="tmpfs" ino=612459 scontext=system_u:system_r:container_t:s0:c4,c808 tcontext=system_u:object_r:var_lib_t:s0 tclass=lnk_file permissive=0"#,
                #"audit: type=1400 audit(1668191154.949:64): apparmor="DENIED" operation="exec" profile="profile-name" name="/usr/local/bin/sample-app" pid=4166 comm="tini""#,
            ])
            #expect(await eventually { harness.logs.audits.count == 2 })
            let avc = try #require(harness.logs.audits.first { $0["type"] == "selinux" })
            #expect(avc["profile"] == "rec_c_1" && avc["perm"] == "read" && avc["tclass"] == "lnk_file" && avc["pod"] == "p")
            let apparmor = try #require(harness.logs.audits.first { $0["type"] == "apparmor" })
            #expect(apparmor["operation"] == "exec" && apparmor["executable"] == "tini" && apparmor["pod"] == "p")
            let selinuxCount = try harness.metrics.expectCounter("security_profiles_operator_selinux_profile_audit_total", [
                ("node", "node-1"), ("namespace", "apps"), ("pod", "p"), ("container", "c"), ("executable", "nginx"),
                ("scontext", "system_u:system_r:container_t:s0:c4,c808"), ("tcontext", "system_u:object_r:var_lib_t:s0"),
            ])
            #expect(selinuxCount.totalValue == 1)
        }
    }

    /// A record of a process that is gone, with no fork seen that names its parent, cannot be
    /// given a container: it is logged without a pod, counted, and warned about (once a
    /// minute); a host process's record is not such a record.
    @Test func recordsOfVanishedProcessesAreCountedAsUnattributed() async throws {
        let harness = EnricherHarness()
        harness.processes.add(7, cgroup: "0::/system.slice/cron.service\n")
        try await harness.run { enricher in
            harness.source.push([seccompLine(pid: 4242, syscall: 83, serial: 1), seccompLine(pid: 7, syscall: 83, exe: "/usr/sbin/cron", serial: 2), seccompLine(pid: 4243, syscall: 0, serial: 3)])
            func unattributed() -> Int64? {
                try? harness.metrics.expectCounter("security_profiles_operator_audit_records_unattributed_total", [("source", "kmsg")]).totalValue
            }
            #expect(await eventually { unattributed() == 2 })
            #expect(enricher.recordsUnattributed == 2)
            let warning = try #require(harness.logs.records.first { $0.message == "enricher.records_unattributed" })
            #expect(warning.metadata["audit.unattributed"] == "2" || warning.metadata["audit.unattributed"] == "1")
            #expect(await eventually { harness.logs.audits.count == 3 }, "still logged, without a pod")
        }
    }

    /// The kernel's notices of dropped records (recorded on this machine's kernel and as a
    /// syslog daemon writes them) are counted and reported, never taken for "nothing happened".
    @Test func recordsTheKernelDroppedAreCountedAndReported() async throws {
        let harness = EnricherHarness()
        try await harness.run { enricher in
            harness.source.push([
                seccompLine(pid: 1, syscall: 39, serial: 11),
                "kauditd_printk_skb: 40 callbacks suppressed",
                seccompLine(pid: 1, syscall: 0, serial: 52),
                "Nov 23 10:00:06 node-1 kernel: [ 8817.2] kauditd_printk_skb: 7 callbacks suppressed",
                "audit: audit_lost=3 audit_rate_limit=0 audit_backlog_limit=64",
                "audit: backlog limit exceeded",
                "audit: audit_lost=5 audit_rate_limit=0 audit_backlog_limit=64",
                "usb 1-1: 2 callbacks suppressed",
            ])
            harness.source.pushOverrun(4)
            func lost() -> Int64? {
                try? harness.metrics.expectCounter("security_profiles_operator_audit_records_lost_total", [("source", "kmsg")]).totalValue
            }
            // 40 + 7 suppressed, 1 (the first audit_lost total) + 2 (its growth), 4 overwritten.
            #expect(await eventually { lost() == 54 })
            #expect(enricher.recordsLost == 54)
            let warnings = harness.logs.records.filter { $0.message == "enricher.records_lost" }
            #expect(warnings.compactMap { $0.metadata["audit.lost"] }.sorted() == ["1", "2", "4", "40", "7"])
            #expect(warnings.contains { $0.metadata["audit.lost_total"] == "54" })
            #expect(warnings.contains { $0.metadata["hint"]?.contains("kernel.printk_ratelimit=0") == true })
            #expect(harness.logs.records.contains { $0.message == "enricher.audit_limit_exceeded" })
            #expect(harness.logs.audits.count == 2, "the records around the notices are still enriched")
        }
    }
}
