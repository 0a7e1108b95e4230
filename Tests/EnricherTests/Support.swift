import AuditKit
import AuditSources
import Foundation
import KubeModels
import KubeTestServer
import Logging
import SPOEnricher
import Synchronization

extension LogCapture {
    /// The `audit` records.
    var audits: [[String: String]] { records.filter { $0.message == "audit" }.map(\.metadata) }
}

/// A process table from fixed cgroup texts and start times; `setStartTime` simulates pid reuse.
final class FakeProcesses: ProcessTable {
    private let table = Mutex<[Int32: (cgroup: String, start: UInt64)]>([:])
    private let reads = Atomic<Int>(0)

    func add(_ pid: Int32, cgroup: String, start: UInt64 = 1) {
        table.withLock { $0[pid] = (cgroup, start) }
    }

    func remove(_ pid: Int32) {
        _ = table.withLock { $0.removeValue(forKey: pid) }
    }

    var cgroupReads: Int { reads.load(ordering: .relaxed) }

    func cgroup(of pid: Int32) -> String? {
        reads.add(1, ordering: .relaxed)
        return table.withLock { $0[pid]?.cgroup }
    }

    func startTime(of pid: Int32) -> UInt64? {
        table.withLock { $0[pid]?.start }
    }
}

/// Lines handed to the enricher on demand, as a source that never ends.
final class ScriptedSource: AuditSource {
    private let queue = Mutex<[String]>([])
    private let overrun = Mutex<Int>(0)

    var description: String { "scripted" }
    var kind: String { "kmsg" }

    func push(_ lines: [String]) {
        queue.withLock { $0 += lines }
    }

    /// Reports `count` records lost before the next batch, as `/dev/kmsg` does after an overrun.
    func pushOverrun(_ count: Int) {
        overrun.withLock { $0 += count }
    }

    func follow(_ handle: (LineBatch) async -> Void) async throws {
        while !Task.isCancelled {
            let lines = queue.withLock { queue in
                defer { queue.removeAll() }
                return queue
            }
            var batch = LineBatch()
            batch.lostRecords = overrun.withLock { count in
                defer { count = 0 }
                return count
            }
            for line in lines { batch.append(line: line) }
            await handle(batch)
            if lines.isEmpty { try? await Task.sleep(for: .milliseconds(10)) }
        }
    }
}

func containerID(_ seed: Character) -> String {
    String(repeating: seed, count: 64)
}

/// A containerd/systemd cgroup v2 file naming `id`.
func cgroupText(_ id: String) -> String {
    "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-\(id).scope\n"
}

/// A pod on `node` with running containers named as given, and their ids.
func runningPod(
    _ namespace: String, _ name: String, node: String = "node-1", containers: [(name: String, id: String)],
    annotations: [String: String]? = nil
) -> Pod {
    var metadata = ObjectMeta(name: name, namespace: namespace)
    metadata.annotations = annotations
    var pod = Pod(metadata: metadata, spec: ["nodeName": .string(node), "containers": .array(containers.map { ["name": .string($0.name), "image": "nginx"] })])
    pod.status = ["containerStatuses": .array(containers.map { ["name": .string($0.name), "containerID": .string("containerd://\($0.id)")] })]
    return pod
}

/// A kernel seccomp line for `pid` and x86_64 syscall `number`.
func seccompLine(pid: Int32, syscall: Int, exe: String = "/usr/sbin/nginx", serial: Int = 1) -> String {
    #"audit: type=1326 audit(1700000000.\#(serial % 1000):\#(serial)): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=\#(pid) comm="x" exe="\#(exe)" sig=0 arch=c000003e syscall=\#(syscall) compat=0 ip=0x7f0 code=0x7ffc0000"#
}
