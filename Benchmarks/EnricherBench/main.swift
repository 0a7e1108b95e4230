import AuditKit
import AuditSources
import BenchSupport
import Foundation
import Glibc
import KubeModels
import Logging
import SPOAPI
import SPOEnricher
import SPORecorder
import SPOServer
import Synchronization

// Log enricher figures (Benchmarks/README.md):
//
//   swift run -c release enricher-bench parse              # lines/s of the parser on one core
//   swift run -c release enricher-bench enrich             # lines/s through parse, resolve, dedup, count
//   swift run -c release enricher-bench record             # lines/s into the logs recorder (every pod recorded)
//   swift run -c release enricher-bench flood --binary .build/release/security-profiles-operator \
//       [--rate 100000] [--seconds 30]                     # RSS and CPU of the real process under a flood

let mode = CommandLine.arguments.dropFirst().first ?? "parse"
let flags = BenchFlags(Array(CommandLine.arguments.dropFirst()), known: ["--binary", "--rate", "--seconds", "--lines"], required: [])

/// Realistic records: seccomp in the kernel and auditd forms (many pids and syscalls), AVCs,
/// AppArmor, and kernel chatter the parser must reject.
func sampleLines(count: Int, pids: Int = 20, chatterEvery: Int = 5) -> [String] {
    (0..<count).map { index in
        let pid = 1000 + index % pids
        switch index % 10 {
        case _ where index % chatterEvery == chatterEvery - 1:
            return "5,\(index),17565920\(index),-;eth0: renamed from veth\(index) link becomes ready"
        case 0, 1, 2, 3:
            return #"5,\#(index),1756592024,-;audit: type=1326 audit(1795347497.739:\#(index)): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=\#(pid) comm="nginx" exe="/usr/sbin/nginx" sig=0 arch=c000003e syscall=\#(index % 300) compat=0 ip=0x7f24a46a6f37 code=0x7ffc0000"#
        case 5, 6:
            return #"type=SECCOMP msg=audit(1613596317.899:\#(index)): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=system_u:system_r:spc_t:s0:c284,c594 pid=\#(pid) comm="ls" exe="/bin/ls" sig=0 arch=c000003e syscall=\#(index % 300) compat=0 ip=0x7f62dce3d4c7 code=0x7ffc0000"#
        case 7:
            return #"type=AVC msg=audit(1613173578.156:\#(index)): avc:  denied  { read } for  pid=\#(pid) comm="security-profil" name="token" dev="tmpfs" ino=612459 scontext=system_u:system_r:container_t:s0:c4,c808 tcontext=system_u:object_r:var_lib_t:s0 tclass=lnk_file permissive=0"#
        default:
            return #"audit: type=1400 audit(1668191154.949:\#(index)): apparmor="DENIED" operation="exec" profile="profile-name" name="/usr/local/bin/sample-app" pid=\#(pid) comm="tini""#
        }
    }
}

func batches(of lines: [String], size: Int) -> [LineBatch] {
    stride(from: 0, to: lines.count, by: size).map { start in
        var batch = LineBatch()
        for line in lines[start..<min(lines.count, start + size)] { batch.append(line: line) }
        return batch
    }
}

func containerIDFor(_ pid: Int) -> String {
    String(repeating: String(format: "%08x", pid), count: 8)
}

switch mode {
case "parse":
    let lines = sampleLines(count: 100_000)
    let prepared = batches(of: lines, size: 512)
    var best = 0.0
    var recognised = 0
    for _ in 0..<5 {
        recognised = 0
        let start = ContinuousClock.now
        for _ in 0..<10 {
            for batch in prepared {
                batch.forEachLine { if AuditLineParser.parse($0) != nil { recognised += 1 } }
            }
        }
        let seconds = (ContinuousClock.now - start).milliseconds / 1000
        best = max(best, Double(lines.count * 10) / seconds)
    }
    report("parse, mixed lines (80% records, 20% chatter)", String(format: "%.2f M lines/s (one core)", best / 1e6))
    report("records recognised per pass", "\(recognised / 10) of \(lines.count)")
    let seccompOnly = batches(of: sampleLines(count: 100_000, chatterEvery: 1_000_000).enumerated().map { $0.offset % 10 < 4 ? $0.element : sampleLines(count: 1)[0] }, size: 512)
    let start = ContinuousClock.now
    for _ in 0..<10 { for batch in seccompOnly { batch.forEachLine { _ = AuditLineParser.parse($0) } } }
    report("parse, kernel seccomp lines only", String(format: "%.2f M lines/s", 1e6 / (ContinuousClock.now - start).milliseconds * 1000 / 1e6))

case "enrich", "record":
    let recording = mode == "record"
    /// Pre-built batches delivered as fast as the enricher takes them, then the source ends.
    final class ReplaySource: AuditSource {
        let prepared: [LineBatch]
        init(_ prepared: [LineBatch]) { self.prepared = prepared }
        var description: String { "replay" }
        var kind: String { "audit" }
        func follow(_ handle: (LineBatch) async -> Void) async throws {
            for batch in prepared { await handle(batch) }
        }
    }
    struct TableProcesses: ProcessTable {
        func cgroup(of pid: Int32) -> String? { "0::/kubepods.slice/cri-containerd-\(containerIDFor(Int(pid))).scope\n" }
        func startTime(of pid: Int32) -> UInt64? { 1 }
    }
    let count = flags.int("--lines", default: 500_000)
    let lines = sampleLines(count: count)
    let prepared = batches(of: lines, size: 512)
    let pods = NodePodIndex()
    for pid in 1000..<1020 {
        // With `record`, every pod is recorded, as the recording webhook annotates them.
        let annotations = recording ? [RecordingAnnotation.key(.logs, container: "app"): "rec_app_\(pid)_1700000000"] : nil
        var pod = Pod(metadata: ObjectMeta(name: "pod-\(pid)", namespace: "apps", annotations: annotations))
        pod.status = ["containerStatuses": [["name": "app", "containerID": .string("containerd://\(containerIDFor(pid))")]]]
        pods.update(pod)
    }
    let registry = OperatorMetricsCatalog.makeRegistry()
    // Logs go to /dev/null through the production JSON handler's cost model: one formatted line per
    // logged record (de-duplicated), so the figure includes formatting.
    let devNull = Mutex(FileHandle(forWritingAtPath: "/dev/null")!)
    struct NullJSONHandler: LogHandler {
        let sink: @Sendable (Data) -> Void
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? { get { metadata[key] } set { metadata[key] = newValue } }
        func log(event: LogEvent) {
            var record = (event.metadata ?? [:]).mapValues(\.description)
            record["msg"] = event.message.description
            if let data = try? JSONEncoder().encode(record) { sink(data) }
        }
    }
    let logged = Atomic<Int>(0)
    let logger = Logger(label: "bench") { _ in NullJSONHandler { data in logged.add(1, ordering: .relaxed); devNull.withLock { $0.write(data) } } }
    var best = 0.0
    var recorded = 0
    for _ in 0..<3 {
        // The recording daemon's enricher: no audit output of its own, the logs recorder as sink.
        let activity = LogsActivity()
        var configuration = LogEnricherConfiguration(node: "node-1")
        configuration.writesAuditOutput = !recording
        let enricher = LogEnricher(
            source: ReplaySource(prepared), processes: TableProcesses(), pods: pods, configuration: configuration,
            logger: logger, metricsFactory: registry.factory, sinks: recording ? [activity] : [])
        let start = ContinuousClock.now
        try await enricher.run()
        best = max(best, Double(count) / ((ContinuousClock.now - start).milliseconds / 1000))
        recorded = (1000..<1020).reduce(0) { total, pid in
            total + activity.activity(of: TrackedContainer(annotation: RecordingAnnotation(key: RecordingAnnotation.key(.logs, container: "app"), value: "rec_app_\(pid)_1700000000")!, containerID: nil)).syscalls.count
        }
    }
    if recording {
        report("record: parse, pid→pod, logs recorder", String(format: "%.0f lines/s (one core)", best))
        report("syscall names recorded (20 containers)", "\(recorded)")
    } else {
        report("enrich: parse, pid→pod, dedup, counters, JSON log", String(format: "%.0f lines/s (one core)", best))
    }
    report("audit lines logged (3 runs, de-duplicated)", "\(logged.load(ordering: .relaxed)) of \(3 * count)")
    let series = String(decoding: registry.exposition(.operatorCounters), as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("security_profiles_operator_") }.count
    report("counter series", "\(series)")

case "flood":
    let binary = flags.string("--binary", default: ".build/release/security-profiles-operator")
    let rate = flags.int("--rate", default: 100_000)
    let seconds = flags.int("--seconds", default: 30)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("enricher-flood-\(getpid())")
    let proc = directory.appendingPathComponent("proc")
    let log = directory.appendingPathComponent("audit.log")
    defer { try? FileManager.default.removeItem(at: directory) }
    for pid in 1000..<1020 {
        let dir = proc.appendingPathComponent("\(pid)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "0::/kubepods.slice/cri-containerd-\(containerIDFor(pid)).scope\n".write(to: dir.appendingPathComponent("cgroup"), atomically: true, encoding: .utf8)
        try "\(pid) (nginx) S \(Array(repeating: "0", count: 18).joined(separator: " ")) 4242 0 0\n".write(to: dir.appendingPathComponent("stat"), atomically: true, encoding: .utf8)
    }
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    let enricher = Process()
    enricher.executableURL = URL(fileURLWithPath: binary)
    enricher.arguments = ["log-enricher", "--standalone", "--source", "audit", "--audit-log", log.path, "--proc", proc.path, "--health-probe-port", "0", "--log-format", "json"]
    enricher.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try enricher.run()
    defer { enricher.terminate() }
    try await Task.sleep(for: .seconds(1))
    let baseline = processStats(enricher.processIdentifier)

    // 100 writes a second of rate/100 lines each; lines differ in serial, pid and syscall.
    let perTick = rate / 100
    let writer = try FileHandle(forWritingTo: log)
    var serial = 0
    var peak = 0.0
    var samples: [Double] = []
    let start = ContinuousClock.now
    var tick = 0
    while ContinuousClock.now - start < .seconds(seconds) {
        var chunk = ""
        chunk.reserveCapacity(perTick * 260)
        for _ in 0..<perTick {
            serial += 1
            chunk += #"type=SECCOMP msg=audit(1795347539.\#(serial % 1000):\#(serial)): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=\#(1000 + serial % 20) comm="nginx" exe="/usr/sbin/nginx" sig=0 arch=c000003e syscall=\#(serial % 50) compat=0 ip=0x7f3201f1df37 code=0x7ffc0000"# + "\n"
        }
        try writer.write(contentsOf: Data(chunk.utf8))
        tick += 1
        if tick % 100 == 0 {
            let rss = processStats(enricher.processIdentifier).rssMiB
            samples.append(rss)
            peak = max(peak, rss)
        }
        let next = start + .milliseconds(10 * tick)
        if next > .now { try await Task.sleep(until: next) }
    }
    let wall = (ContinuousClock.now - start).milliseconds / 1000
    let written = serial
    // Let it drain, then read its CPU time.
    var last = processStats(enricher.processIdentifier).cpuSeconds
    while true {
        try await Task.sleep(for: .seconds(1))
        let now = processStats(enricher.processIdentifier).cpuSeconds
        if now - last < 0.02 { break }
        last = now
    }
    let final = processStats(enricher.processIdentifier)
    report("flood written", String(format: "%d lines in %.1f s (%.0f lines/s)", written, wall, Double(written) / wall))
    report("enricher RSS: idle before / peak / after", String(format: "%.1f / %.1f / %.1f MiB", baseline.rssMiB, peak, final.rssMiB))
    report("enricher RSS per second (MiB)", samples.map { String(format: "%.0f", $0) }.joined(separator: " "))
    report("enricher CPU for the flood", String(format: "%.1f s (%.0f%% of one core; %.0f lines per CPU-second)",
        final.cpuSeconds - baseline.cpuSeconds, (final.cpuSeconds - baseline.cpuSeconds) / wall * 100, Double(written) / (final.cpuSeconds - baseline.cpuSeconds)))

default:
    print("usage: enricher-bench parse | enrich [--lines N] | flood --binary PATH [--rate N] [--seconds N]")
    exit(2)
}
