import ArgumentParser
import Foundation
import KubeClient
import KubeRuntime
import Logging
import SPOAPI
import SPORecorder
import SPOServer
import SeccompCompiler
import SeccompKit
import SyscallRecorder

/// What the node's profile recorder is asked to do, shared by the daemon (which records
/// when the spod enables only the log enricher) and the `bpf-recorder` role.
struct RecorderOptions: ParsableArguments {
    @Option(name: .customLong("with-mem-optim"), help: "Memory optimisation of the recorder's pod cache (enableMemoryOptimization).")
    var withMemOptim = false
    @Option(name: .customLong("with-logs-recorder"), help: "Record trace-logs/trace-avcs containers from audit records (default: ENABLE_LOG_ENRICHER).")
    var withLogsRecorder: Bool?
    @Option(name: .customLong("with-bpf-recorder"), help: "Record trace-bpf containers with eBPF (default: true for the bpf-recorder role; for the daemon ENABLE_BPF_RECORDER means that the bpf-recorder container records instead).")
    var withBpfRecorder: Bool?
    @Option(help: "Where the recorder keeps what it recorded across restarts.")
    var recordingStateDir = "/tmp/security-profiles-operator-recordings"
    @OptionGroup var audit: AuditSourceOptions

    /// The node's recorder with the sources asked for.
    func recorder(client: KubernetesClient, node: String, logs: Bool, bpf: Bool, logger: Logger) -> RecordingDaemon {
        let architecture = SeccompArchitecture(rawValue: Architectures.name(of: SyscallNameTable().nativeArchitecture) ?? "SCMP_ARCH_NATIVE")
        logger.info("recorder.enabled", metadata: ["logs": "\(logs)", "bpf": "\(bpf)", "memory_optimization": "\(withMemOptim)"])
        return RecordingDaemon(
            client: client,
            configuration: RecorderConfiguration(node: node, architecture: architecture),
            memoryOptimization: withMemOptim,
            logs: logs ? .init(source: audit.chooseSource(logger: logger), proc: audit.proc) : nil,
            bpf: bpf ? BPFActivity(proc: audit.proc) : nil,
            stateDirectory: URL(fileURLWithPath: recordingStateDir), logger: logger)
    }
}

extension SecurityProfilesOperator {
    /// The DaemonSet's `bpf-recorder` container (`enableBpfRecorder`): the node's profile
    /// recorder with its eBPF source, and the logs source too when the log enricher is on, so
    /// that one recorder owns the node's recordings.
    struct BPFRecorderRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bpf-recorder",
            abstract: "Record the syscalls of this node's containers that ProfileRecordings select, with eBPF (and audit records for logs recordings).",
            aliases: ["b"])

        @OptionGroup var options: ProcessOptions
        @OptionGroup var cluster: ClusterOptions
        @OptionGroup var recording: RecorderOptions

        func run() async throws {
            let registry = options.bootstrap()
            let environment = ProcessInfo.processInfo.environment
            guard let node = environment["NODE_NAME"], !node.isEmpty else {
                throw ValidationError("NODE_NAME must name the node this recorder runs on (the DaemonSet sets it from spec.nodeName)")
            }
            let configuration = try cluster.loadConfiguration(qps: 50, burst: 100)
            let namespace = environment["OPERATOR_NAMESPACE"] ?? configuration.namespace
            try await KubernetesClient.withClient(configuration: configuration) { client in
                let recorder = recording.recorder(
                    client: client, node: node,
                    logs: recording.withLogsRecorder ?? (environment["ENABLE_LOG_ENRICHER"] == "true"),
                    bpf: recording.withBpfRecorder ?? true,
                    logger: Logger(label: "spo.recorder"))
                try await runRole(
                    "bpf-recorder", options: options, services: recorder.services, server: configuration.server.absoluteString,
                    checks: [HealthServer.Check(name: "recorder-spod") { recorder.hasSynced }],
                    metrics: MetricsServing(registry: registry, client: client, defaultPort: 9445, namespace: namespace),
                    defaultHealthPort: DefaultPorts.bpfRecorderHealth)
            }
        }
    }
}
