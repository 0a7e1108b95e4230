import AuditSources
import ArgumentParser
import Foundation
import KubeClient
import KubeRuntime
import Logging
import SPOEnricher
import SPORecorder
import SPOServer
import ServiceLifecycle

extension SecurityProfilesOperator {
    /// The log enricher (the DaemonSet's `log-enricher` container when `enableLogEnricher` is
    /// set): audit records of the node, attributed to pods, logged and counted.
    struct LogEnricherRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "log-enricher",
            abstract: "Log the node's seccomp, SELinux and AppArmor audit records with the pod, container and syscall they belong to.",
            aliases: ["l"])

        @OptionGroup var options: ProcessOptions
        @OptionGroup var cluster: ClusterOptions

        @OptionGroup var audit: AuditSourceOptions


        @Option(help: "Seconds in which identical records are logged once (the counters still count each).")
        var dedupWindow = 10

        @Flag(help: "Run without a cluster: records carry the node and container id but no pod.")
        var standalone = false

        func validate() throws {
            if dedupWindow < 0 { throw ValidationError("--dedup-window must not be negative") }
        }

        func run() async throws {
            let registry = options.bootstrap()
            let environment = ProcessInfo.processInfo.environment
            let logger = Logger(label: "spo.log-enricher")
            let node = environment["NODE_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? (standalone ? ProcessInfo.processInfo.hostName : nil)
            guard let node else {
                throw ValidationError("NODE_NAME must name the node this enricher runs on (the DaemonSet sets it from spec.nodeName)")
            }
            let source = audit.chooseSource(logger: logger)
            var settings = LogEnricherConfiguration(node: node)
            settings.dedupWindow = .seconds(dedupWindow)
            // Forks tell the container of a process that exited before its record was read.
            let forks = ProcessForks()
            if !forks.isAvailable {
                logger.warning("enricher.forks_unavailable", metadata: [
                    "detail": "the kernel's proc connector cannot be read (needs CAP_NET_ADMIN): records of processes that exit at once are logged without a pod",
                ])
            }
            if standalone {
                let enricher = LogEnricher(
                    source: source, processes: ProcFilesystem(root: audit.proc), pods: nil, configuration: settings, logger: logger, forks: forks)
                try await runRole("log-enricher", options: options, services: [enricher], defaultHealthPort: DefaultPorts.enricherHealth)
                return
            }
            let configuration = try cluster.loadConfiguration(qps: 20, burst: 40)
            let namespace = environment["OPERATOR_NAMESPACE"] ?? configuration.namespace
            try await KubernetesClient.withClient(configuration: configuration) { client in
                let pods = NodePodIndex()
                let informer = pods.informer(client: client, node: node, logger: logger)
                let enricher = LogEnricher(
                    source: source, processes: ProcFilesystem(root: audit.proc), pods: pods, configuration: settings, logger: logger, forks: forks)
                try await runRole(
                    "log-enricher", options: options, services: [informer, enricher], server: configuration.server.absoluteString,
                    checks: [HealthServer.Check(name: "node-pods") { informer.hasSynced }],
                    metrics: MetricsServing(registry: registry, client: client, defaultPort: 9444, namespace: namespace),
                    defaultHealthPort: DefaultPorts.enricherHealth)
            }
        }
    }
}

/// Where audit records come from, for the log enricher and the daemon's logs recorder.
struct AuditSourceOptions: ParsableArguments {
    enum SourceKind: String, ExpressibleByArgument, CaseIterable {
        case auto, audit, syslog, kmsg
    }

    @Option(help: "Where records come from: auto (the audit log if it exists, else syslog if it exists, else the kernel buffer), audit, syslog or kmsg.")
    var source: SourceKind = .auto

    @Option(help: "auditd's log.")
    var auditLog = "/var/log/audit/audit.log"

    @Option(help: "The syslog file the kernel's messages go to when auditd does not run.")
    var syslog = "/var/log/syslog"

    @Option(help: "The kernel's log buffer device.")
    var kmsg = "/dev/kmsg"

    @Flag(help: "Read the existing records too, not only new ones (after a restart, records already read would be reported again).")
    var fromStart = false

    @Option(help: "The host's /proc, where processes' cgroups are read.")
    var proc = "/proc"

    /// The source, logged as upstream logs it (`Reading from file <path>`).
    func chooseSource(logger: Logger) -> any AuditSource {
        let kind: SourceKind
        switch source {
        case .auto:
            kind = FileManager.default.fileExists(atPath: auditLog) ? .audit : FileManager.default.fileExists(atPath: syslog) ? .syslog : .kmsg
        default:
            kind = source
        }
        switch kind {
        case .kmsg:
            logger.info("Reading from kernel log buffer \(kmsg)")
            return KmsgAuditSource(path: kmsg, startAtEnd: !fromStart)
        case .syslog:
            logger.info("Reading from file \(syslog)")
            return FileAuditSource(path: syslog, kind: "syslog", startAtEnd: !fromStart)
        case .audit, .auto:
            logger.info("Reading from file \(auditLog)")
            return FileAuditSource(path: auditLog, startAtEnd: !fromStart)
        }
    }
}
