import AuditKit
import SPOAPI
import Testing

@Suite struct ContainerIDTests {
    static let id = "3c1e9fdb1a7b0f3e3f4ae9b44f4bc4a5f6c7d8e9fa0b1c2d3e4f5a6b7c8d9e0f"
    static let other = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

    @Test(arguments: [
        // containerd, systemd driver, cgroup v2
        "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod8f1d6c49_4c3b_4b8e_9a4e_2f0f3c1d2e3f.slice/cri-containerd-\(id).scope\n",
        // CRI-O, systemd driver, cgroup v2
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8f1d6c49_4c3b_4b8e_9a4e_2f0f3c1d2e3f.slice/crio-\(id).scope\n",
        // Docker (cri-dockerd), systemd driver
        "0::/system.slice/docker-\(id).scope\n",
        // containerd, cgroupfs driver, cgroup v1 (every controller line names the container)
        "12:pids:/kubepods/besteffort/pod8f1d6c49-4c3b-4b8e-9a4e-2f0f3c1d2e3f/\(id)\n11:memory:/kubepods/besteffort/pod8f1d6c49-4c3b-4b8e-9a4e-2f0f3c1d2e3f/\(id)\n0::/\n",
        // Docker, cgroupfs driver, cgroup v1
        "9:cpu,cpuacct:/docker/\(id)\n1:name=systemd:/docker/\(id)\n",
        // cgroup v1 where the first lines have no container (namespaced controllers): the first line that has one wins
        "13:misc:/\n12:rdma:/\n5:pids:/kubepods/pod8f1d6c49-4c3b-4b8e-9a4e-2f0f3c1d2e3f/\(id)\n",
        // Nested runtimes: the last id on the line is the innermost container.
        "0::/kubepods/pod1/\(other)/kubepods/\(id)\n",
    ])
    func containerIDsFromCgroupFiles(_ text: String) {
        #expect(ContainerIDs.fromCgroup(text) == Self.id)
    }

    @Test(arguments: [
        "0::/\n",
        "0::/user.slice/user-1000.slice/session-3.scope\n",
        "4:memory:/process_api/169bd365757d4c7eb5743d4489151bc7\n0::/\n",
        // 65 and 63 hex digits are not container ids; neither are uppercase ones.
        "0::/kubepods/\(id)a\n",
        "0::/kubepods/\(String(id.dropLast()))\n",
        "0::/kubepods/\(id.uppercased())\n",
        "",
    ])
    func hostProcessesHaveNoContainer(_ text: String) {
        #expect(ContainerIDs.fromCgroup(text) == nil)
    }

    @Test func statusContainerIDs() {
        #expect(ContainerIDs.fromStatus("containerd://\(Self.id)") == Self.id)
        #expect(ContainerIDs.fromStatus("cri-o://\(Self.id)") == Self.id)
        #expect(ContainerIDs.fromStatus("docker://\(Self.id)") == Self.id)
        #expect(ContainerIDs.fromStatus(Self.id) == Self.id)
        #expect(ContainerIDs.fromStatus("") == nil)
        #expect(ContainerIDs.fromStatus("containerd://") == nil)
    }
}

@Suite struct DeduplicatorTests {
    let start = ContinuousClock.now

    @Test func identicalRecordsInAWindowAreLoggedOnceThenSummarised() {
        var dedup = AuditDeduplicator<String, Int>(window: .seconds(10), capacity: 8)
        var overflow: [AuditDeduplicator<String, Int>.Summary] = []
        #expect(dedup.admit(1, signature: "a", now: start, overflow: &overflow) == .log)
        for second in 1...9 {
            #expect(dedup.admit(second + 1, signature: "a", now: start + .seconds(second), overflow: &overflow) == .suppress)
        }
        #expect(dedup.admit(100, signature: "b", now: start + .seconds(1), overflow: &overflow) == .log)
        #expect(dedup.expire(now: start + .seconds(9)).isEmpty)
        let summaries = dedup.expire(now: start + .seconds(10))
        #expect(summaries.map(\.record) == [1] && summaries.map(\.suppressed) == [9])
        // "b" suppressed nothing: its window closes without a summary.
        #expect(dedup.expire(now: start + .seconds(11)).isEmpty)
        #expect(dedup.tracked == 0)
        // After the window the next record is logged again.
        #expect(dedup.admit(11, signature: "a", now: start + .seconds(12), overflow: &overflow) == .log)
        #expect(overflow.isEmpty)
    }

    @Test func aRecordAfterItsWindowClosesItAndIsLogged() {
        var dedup = AuditDeduplicator<String, Int>(window: .seconds(1), capacity: 8)
        var overflow: [AuditDeduplicator<String, Int>.Summary] = []
        _ = dedup.admit(1, signature: "a", now: start, overflow: &overflow)
        _ = dedup.admit(2, signature: "a", now: start + .milliseconds(500), overflow: &overflow)
        #expect(dedup.admit(3, signature: "a", now: start + .seconds(2), overflow: &overflow) == .log)
        #expect(overflow.map(\.record) == [1] && overflow.map(\.suppressed) == [1])
    }

    @Test func aFullTableClosesEveryWindowInsteadOfGrowing() {
        var dedup = AuditDeduplicator<Int, Int>(window: .seconds(60), capacity: 3)
        var overflow: [AuditDeduplicator<Int, Int>.Summary] = []
        for signature in 0..<3 {
            _ = dedup.admit(signature, signature: signature, now: start, overflow: &overflow)
            _ = dedup.admit(signature, signature: signature, now: start, overflow: &overflow)
        }
        #expect(dedup.tracked == 3 && overflow.isEmpty)
        #expect(dedup.admit(3, signature: 3, now: start, overflow: &overflow) == .log)
        #expect(dedup.tracked == 1)
        #expect(overflow.map(\.record).sorted() == [0, 1, 2] && overflow.allSatisfy { $0.suppressed == 1 })
        #expect(dedup.closeAll().isEmpty)
    }
}

@Suite struct EnrichedEventTests {
    let pod = ContainerIdentity(namespace: "default", pod: "enricherpod", container: "enrichercontainer", containerID: "abc", recordProfile: "rec_nginx_1")

    @Test func seccompFieldsInUpstreamOrder() throws {
        let event = EnrichedAuditEvent(
            event: try #require(AuditLineParser.parse(Samples.kernelSeccomp)), node: "node-1", container: pod, containerID: "abc", syscallName: "write")
        #expect(event.logFields.map(\.key) == ["timestamp", "type", "node", "namespace", "pod", "container", "executable", "pid", "syscallID", "syscallName"])
        #expect(event.logFields.map(\.value.description) == [
            "1611996299.149:466250", "seccomp", "node-1", "default", "enricherpod", "enrichercontainer", "/bin/busybox", "615549", "1", "write",
        ])
        #expect(event.logFields.first { $0.key == "syscallID" }?.value == .number(1))
        let counter = try #require(event.auditCounter)
        #expect(counter.metric == .seccompProfileAudit)
        #expect(counter.labels.map(\.0) == OperatorMetric.seccompProfileAudit.labelNames)
        #expect(counter.labels.map(\.1) == ["node-1", "default", "enricherpod", "enrichercontainer", "/bin/busybox", "write"])
    }

    @Test func selinuxFieldsInUpstreamOrder() throws {
        let event = EnrichedAuditEvent(event: try #require(AuditLineParser.parse(Samples.kernelAVC)), node: "n", container: pod, containerID: "abc", syscallName: nil)
        #expect(event.logFields.map(\.key) == ["timestamp", "type", "profile", "node", "namespace", "pod", "container", "perm", "scontext", "tcontext", "tclass"])
        #expect(event.logFields.first { $0.key == "perm" }?.value == .text("read write open"))
        #expect(event.logFields.first { $0.key == "profile" }?.value == .text("rec_nginx_1"))
        let counter = try #require(event.auditCounter)
        #expect(counter.metric == .selinuxProfileAudit)
        #expect(counter.labels.map(\.0) == OperatorMetric.selinuxProfileAudit.labelNames)
    }

    @Test func appArmorFieldsInUpstreamOrderWithoutACounter() throws {
        let event = EnrichedAuditEvent(event: try #require(AuditLineParser.parse(Samples.appArmorWithExtra)), node: "n", container: pod, containerID: "abc", syscallName: nil)
        #expect(event.logFields.map(\.key) == [
            "timestamp", "type", "node", "namespace", "pod", "container", "executable", "pid", "apparmor", "operation", "profile", "name", "extra",
        ])
        #expect(event.auditCounter == nil)
    }

    @Test func unresolvedContainersKeepTheirIDAndHostProcessesHaveEmptyPodFields() throws {
        let line = try #require(AuditLineParser.parse(Samples.kmsgSeccomp))
        let unresolved = EnrichedAuditEvent(event: line, node: "n", container: nil, containerID: "abc", syscallName: "mkdir")
        #expect(unresolved.logFields.last?.key == "containerID")
        #expect(unresolved.logFields.first { $0.key == "pod" }?.value == .text(""))
        let host = EnrichedAuditEvent(event: line, node: "n", container: nil, containerID: nil, syscallName: "mkdir")
        #expect(!host.logFields.contains { $0.key == "containerID" })
        // Two records differing only in time and pid are the same event for de-duplication.
        var later = line
        later.timestamp = "1795347498.000:3"
        later.pid = 1
        #expect(EnrichedAuditEvent(event: later, node: "n", container: nil, containerID: nil, syscallName: "mkdir").signature == host.signature)
        #expect(unresolved.signature != host.signature)
    }
}
