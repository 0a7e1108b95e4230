import AuditKit
import AuditSources
import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import SPOEnricher
import ServiceLifecycle
import Synchronization
import SyscallRecorder

/// The daemon's recording half (`--with-recording`): a cache of this node's pods (only those
/// labelled `spo.x-k8s.io/enable-recording=true` with memory optimisation, and trimmed to what
/// recording reads), the ProfileRecordings, the sources (an in-process log enricher feeding the
/// logs recorder, the eBPF engine of the bpf recorder) and the ``NodeProfileRecorder``.
public struct RecordingDaemon: Sendable {
    /// How the logs recorder reads audit records.
    public struct LogsSetup: Sendable {
        public var source: any AuditSource
        public var proc: String

        public init(source: any AuditSource, proc: String = "/proc") {
            self.source = source
            self.proc = proc
        }
    }

    public let pods: Informer<Pod>
    public let recordings: Informer<ProfileRecording>
    public let recorder: NodeProfileRecorder
    public let controller: Controller
    public let enricher: LogEnricher?
    public let logs: LogsActivity?
    public let bpf: BPFActivity?
    let saveInterval: Duration
    let logger: Logger

    /// The label memory optimisation limits the pod cache to (reference §5.7).
    public static let memoryOptimizationSelector = "spo.x-k8s.io/enable-recording=true"

    public init(
        client: KubernetesClient, configuration: RecorderConfiguration, memoryOptimization: Bool, logs: LogsSetup?, bpf: BPFActivity?,
        otherSources: [any ActivitySource] = [], stateDirectory: URL?, reflector: ReflectorStateMachine.Configuration = .init(), saveInterval: Duration = .seconds(5),
        enricherConfiguration: ((inout LogEnricherConfiguration) -> Void)? = nil, logger: Logger = Logger(label: "spo.recorder")
    ) {
        self.logger = logger
        self.saveInterval = saveInterval
        pods = Informer(
            client: client.resource(Pod.self), labelSelector: memoryOptimization ? Self.memoryOptimizationSelector : nil,
            fieldSelector: "spec.nodeName=\(configuration.node)", reflector: reflector, transform: Self.trim, logger: logger)
        recordings = Informer(client: client.resource(ProfileRecording.self), reflector: reflector, logger: logger)
        var sources: [any ActivitySource] = []
        if let logs {
            let index = NodePodIndex()
            pods.addHandler(InformerHandler(onAdd: { index.update($0) }, onUpdate: { index.update($1) }, onDelete: { index.remove($0) }))
            let box = EnricherBox()
            let activity = LogsActivity(lost: { box.enricher?.recordsLost ?? 0 }, unattributed: { box.enricher?.recordsUnattributed ?? 0 })
            var settings = LogEnricherConfiguration(node: configuration.node)
            settings.writesAuditOutput = false
            enricherConfiguration?(&settings)
            let enricher = LogEnricher(
                source: logs.source, processes: ProcFilesystem(root: logs.proc), pods: index, configuration: settings, logger: logger,
                sinks: [activity], forks: ProcessForks())
            box.enricher = enricher
            self.enricher = enricher
            self.logs = activity
            sources.append(activity)
        } else {
            enricher = nil
            self.logs = nil
        }
        self.bpf = bpf
        if let bpf { sources.append(bpf) }
        sources += otherSources
        let events = EventRecorder(client: client, component: "security-profiles-operator-recorder", host: configuration.node, logger: logger)
        recorder = NodeProfileRecorder(
            pods: pods.store, recordings: recordings.store, client: client, events: events, sources: sources,
            stateStore: stateDirectory.map { FileRecorderStateStore(directory: $0) }, configuration: configuration, logger: logger)
        controller = Controller(name: "recorder", reconciler: recorder, logger: logger)
        let queue = controller.queue
        let recorder = self.recorder
        pods.addHandler(InformerHandler(
            onAdd: { if Self.isRecorded($0) { queue.add($0.key) } },
            onUpdate: { old, new in if Self.isRecorded(old) || Self.isRecorded(new) { queue.add(new.key) } },
            onDelete: { queue.add($0.key) }))
        recordings.addHandler(InformerHandler(
            onAdd: { for key in recorder.pods(of: $0.key) { queue.add(key) } },
            onUpdate: { for key in recorder.pods(of: $1.key) { queue.add(key) } },
            onDelete: { for key in recorder.pods(of: $0.key) { queue.add(key) } }))
    }

    /// Whether caches hold their first lists.
    public var hasSynced: Bool { pods.hasSynced && recordings.hasSynced }

    /// Everything to run as services.
    public var services: [any Service] {
        var services: [any Service] = [pods, recordings]
        if let enricher { services.append(enricher) }
        services.append(RecorderLoop(daemon: self))
        return services
    }

    static func isRecorded(_ pod: Pod) -> Bool {
        (pod.metadata.annotations ?? [:]).keys.contains { key in RecordingAnnotation.Method.allCases.contains { key.hasPrefix($0.prefix) } }
    }

    /// What recording and the enricher read of a pod: names, labels, annotations, deletion,
    /// the init containers' names, the phase and the containers' ids. 5,000 pods on a node then
    /// cost little more than their names.
    @Sendable static func trim(_ pod: Pod) -> Pod {
        var metadata = ObjectMeta(
            name: pod.metadata.name, generateName: pod.metadata.generateName, namespace: pod.metadata.namespace, labels: pod.metadata.labels,
            annotations: pod.metadata.annotations, resourceVersion: pod.metadata.resourceVersion)
        metadata.uid = pod.metadata.uid
        metadata.deletionTimestamp = pod.metadata.deletionTimestamp
        var trimmed = Pod(metadata: metadata)
        let initNames = (pod.spec?["initContainers"]?.arrayValue ?? []).compactMap { $0["name"] }
        if !initNames.isEmpty { trimmed.spec = ["initContainers": .array(initNames.map { ["name": $0] })] }
        var status: JSONValue = [:]
        if let phase = pod.status?["phase"] { status["phase"] = phase }
        for field in ["initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"] {
            guard let statuses = pod.status?[field]?.arrayValue else { continue }
            status[field] = .array(statuses.map { entry in
                var kept: JSONValue = [:]
                if let name = entry["name"] { kept["name"] = name }
                if let id = entry["containerID"] { kept["containerID"] = id }
                return kept
            })
        }
        trimmed.status = status
        return trimmed
    }
}

/// The enricher, reachable from the logs recorder's loss count before it exists.
final class EnricherBox: Sendable {
    private let stored = Mutex<LogEnricher?>(nil)
    var enricher: LogEnricher? {
        get { stored.withLock { $0 } }
        set { stored.withLock { $0 = newValue } }
    }
}

/// The kernel's fork events (the proc connector) for a log enricher, so that a process that
/// exits before its record is read is attributed through its parent. Without the proc connector
/// (no `CAP_NET_ADMIN`) it reports no forks: such records go unattributed, and are counted.
public final class ProcessForks: ForkEventSource, @unchecked Sendable {
    // ForkEvents is used from the enricher's task only; the lock makes that a guarantee.
    private let events: ForkEvents?
    private let lock = Mutex(())

    public init() { events = ForkEvents() }

    /// Whether the proc connector could be subscribed to.
    public var isAvailable: Bool { events != nil }

    public func drain() -> [(parent: Int32, child: Int32)] {
        lock.withLock { _ in events?.drain() ?? [] }
    }
}

/// Runs the recorder once the caches are filled: resumes the saved state, reconciles, saves
/// what was recorded every `saveInterval` and once more at shutdown.
struct RecorderLoop: Service {
    let daemon: RecordingDaemon

    func run() async throws {
        await daemon.pods.waitForSync()
        await daemon.recordings.waitForSync()
        for key in await daemon.recorder.restore() { daemon.controller.queue.add(key) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await daemon.controller.run() }
            group.addTask {
                while !Task.isCancelled, !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: daemon.saveInterval)
                    daemon.recorder.save()
                }
            }
            if let bpf = daemon.bpf {
                group.addTask {
                    while !Task.isCancelled, !Task.isShuttingDownGracefully {
                        try? await Task.sleep(for: .milliseconds(200))
                        if bpf.hasPending { bpf.resolvePending() }
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
        daemon.recorder.save(force: true)
    }
}
