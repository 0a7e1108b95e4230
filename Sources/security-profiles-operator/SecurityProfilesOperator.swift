import ArgumentParser
import CoreMetrics
import Foundation
import KubeClient
import KubeRuntime
import Logging
import NIOCore
import SPOAPI
import SPODaemon
import SPOManager
import SPOManagerKit
import SPOManifests
import SPORecorder
import SPOServer
import SelinuxNode
import SeccompCompiler
import SeccompKit
import SyscallRecorder
import ServiceLifecycle
import UnixSignals

/// The operator's single binary; each role is a subcommand.
@main
struct SecurityProfilesOperator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "security-profiles-operator",
        abstract: "Kubernetes Security Profiles Operator: seccomp, AppArmor and SELinux profiles as Kubernetes objects.",
        version: OperatorVersion.current,
        subcommands: [Manager.self, Daemon.self, WebhookRole.self, LogEnricherRole.self, BPFRecorderRole.self, NonRootEnabler.self, SeccompExec.self, Generate.self, Version.self]
    )
}

/// Each role's default ports: distinct, so that the roles can run side by side on one machine
/// (outside a cluster, in tests and benchmarks); in a cluster each pod has its own network.
enum DefaultPorts {
    static let managerHealth = 8081
    static let daemonHealth = 8085
    static let enricherHealth = 8086
    static let bpfRecorderHealth = 8087
    // The webhook's: WebhookRenderer.healthPort (8082).
}

/// The build's version string.
enum OperatorVersion {
    static let current = "0.1.0-dev"
}

/// Options every long-running role shares.
struct ProcessOptions: ParsableArguments {
    @Option(name: .customLong("health-probe-host"), help: "Address the health probes listen on.")
    var healthHost = "0.0.0.0"

    @Option(name: .customLong("health-probe-port"), help: "Port of /healthz and /readyz (0 picks a free port; default 8081 for the manager, 8082 for the webhook, 8085 for the daemon, 8086 for the log enricher, 8087 for the bpf recorder).")
    var healthPort: Int?

    @Option(name: .customLong("metrics-host"), help: "Address the HTTPS metrics endpoints (/metrics, /metrics-spod) listen on.")
    var metricsHost = "0.0.0.0"

    @Option(name: .customLong("metrics-port"), help: "Port of the HTTPS metrics endpoints (0 picks a free port; default 8443 for the manager, 9443 for the daemon, 9444 for the log enricher, 9445 for the bpf recorder).")
    var metricsPort: Int?

    @Option(name: .customLong("metrics-cert-dir"), help: "Directory with tls.crt and tls.key for the metrics endpoints, re-read when they change (default: METRICS_CERT_DIR; a self-signed certificate until the files exist).")
    var metricsCertDir: String?

    @Option(help: "Log format: json or text (default: text when standard error is a terminal, else json).")
    var logFormat: LogFormat?

    @Option(help: "Minimum log level: trace, debug, info, notice, warning, error, critical (default: debug when SPO_VERBOSITY is 1, else info).")
    var logLevel: Logger.Level?

    enum LogFormat: String, ExpressibleByArgument, CaseIterable {
        case json, text
    }

    /// Bootstraps swift-log and swift-metrics once for the process; returns the metrics registry.
    @discardableResult
    func bootstrap() -> MetricsRegistry {
        // The spod's `verbosity` reaches the containers as SPO_VERBOSITY.
        let level = logLevel ?? (ProcessInfo.processInfo.environment["SPO_VERBOSITY"] == "1" ? .debug : .info)
        switch logFormat ?? (isatty(2) == 1 ? .text : .json) {
        case .json:
            LoggingSystem.bootstrap { JSONLogHandler(label: $0, level: level) }
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
        let registry = OperatorMetricsCatalog.makeRegistry()
        MetricsSystem.bootstrap(registry.factory)
        return registry
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension WebhookCertificateSource: ExpressibleByArgument {}

/// How a role serves its metrics: the registry from ``ProcessOptions/bootstrap()``, the
/// client that reviews scrapers' tokens, and the role's default port and certificate names.
struct MetricsServing {
    var registry: MetricsRegistry
    var client: KubernetesClient
    var defaultPort: Int
    var namespace: String

    func server(options: ProcessOptions, logger: Logger) throws -> MetricsServer {
        let hostnames = ["metrics.\(namespace).svc", "metrics.\(namespace).svc.cluster.local", "localhost"]
        let directory = options.metricsCertDir ?? ProcessInfo.processInfo.environment["METRICS_CERT_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        let certificate = try ServingCertificate(directory: directory, hostnames: hostnames)
        if certificate.isSelfSigned {
            logger.info("metrics.certificate.self_signed", metadata: ["tls.dir": "\(directory ?? "")"])
        }
        return MetricsServer(
            host: options.metricsHost, port: options.metricsPort ?? defaultPort, registry: registry, certificate: certificate,
            authorizer: KubernetesScrapeAuthorizer(client: client), logger: logger)
    }
}

/// Runs a role: its services plus the health server (and the metrics server when given),
/// stopped gracefully on SIGTERM or SIGINT. Call ``ProcessOptions/bootstrap()`` first.
func runRole(
    _ role: String, options: ProcessOptions, services: [any Service] = [], server: String? = nil,
    checks: [HealthServer.Check] = [], metrics: MetricsServing? = nil, defaultHealthPort: Int
) async throws {
    var logger = Logger(label: "spo.\(role)")
    logger[metadataKey: "role"] = "\(role)"
    var metadata: Logger.Metadata = ["version": "\(OperatorVersion.current)", "pid": "\(getpid())"]
    if let server { metadata["k8s.server"] = "\(server)" }
    logger.info("process.starting", metadata: metadata)
    var servers: [any Service] = [HealthServer(host: options.healthHost, port: options.healthPort ?? defaultHealthPort, checks: checks, logger: logger)]
    if let metrics { servers.append(try metrics.server(options: options, logger: logger)) }
    servers.append(StartupPageRelease(checks: checks, logger: logger))
    let group = ServiceGroup(
        configuration: .init(
            services: (servers + services).map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger
        )
    )
    try await group.run()
    logger.info("process.stopped")
}

/// How a role reaches the API server.
struct ClusterOptions: ParsableArguments {
    @Option(help: "Path to a kubeconfig file (default: KUBECONFIG, the in-cluster service account, then ~/.kube/config).")
    var kubeconfig: String?

    @Option(help: "The kubeconfig context to use instead of its current-context.")
    var context: String?

    @Option(help: "Client-side limit of API requests per second (default: 100 for the manager, 200 for the daemon).")
    var kubeApiQps: Double?

    @Option(help: "Requests allowed in a burst above --kube-api-qps (default: 200 for the manager, 400 for the daemon).")
    var kubeApiBurst: Int?

    /// The configuration, with the role's request-rate defaults unless flags override them.
    func loadConfiguration(qps: Double, burst: Int) throws -> KubeClientConfiguration {
        var configuration = try KubeConfigLoader().load(kubeconfigPath: kubeconfig, context: context)
        configuration.qps = kubeApiQps ?? qps
        configuration.burst = kubeApiBurst ?? burst
        return configuration
    }
}

extension SecurityProfilesOperator {
    /// The cluster-wide manager: renders the spod into the daemon's DaemonSet and aggregates
    /// profile statuses, as the leader of its replicas (Lease `security-profiles-operator-lock`).
    struct Manager: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the cluster-wide manager.", aliases: ["m"])

        @OptionGroup var options: ProcessOptions
        @OptionGroup var cluster: ClusterOptions

        @Flag(inversion: .prefixedNo, help: "Elect a leader among manager replicas through a coordination.k8s.io Lease.")
        var leaderElect = true

        @Option(help: "Namespace of the leader-election Lease (default: OPERATOR_NAMESPACE, the kubeconfig/pod namespace).")
        var leaderElectionNamespace: String?

        @Option(help: "The image of the daemon's containers (default: RELATED_IMAGE_OPERATOR).")
        var daemonImage: String?

        @Option(help: "The pull policy of the daemon's containers.")
        var daemonImagePullPolicy = "IfNotPresent"

        @Flag(inversion: .prefixedNo, help: "Manage the admission webhook objects; --no-webhook means they are static manifests (spod staticWebhookConfig).")
        var webhook = true

        @Option(help: "Where the webhook's serving certificate comes from: self-managed (a CA the manager keeps in Secret spo-webhook-ca, injected into the caBundle) or cert-manager (an Issuer and Certificate cert-manager fulfils).")
        var webhookCertSource: WebhookCertificateSource = .selfManaged

        func run() async throws {
            let registry = options.bootstrap()
            let environment = ProcessInfo.processInfo.environment
            // Every profile's status is written by the manager: at controller-runtime's 20/s,
            // 1,000 profiles would take almost a minute to show Installed.
            let configuration = try cluster.loadConfiguration(qps: 100, burst: 200)
            guard let image = daemonImage ?? environment["RELATED_IMAGE_OPERATOR"], !image.isEmpty else {
                throw ValidationError("the daemon's image is unknown: set RELATED_IMAGE_OPERATOR or --daemon-image")
            }
            let namespace = environment["OPERATOR_NAMESPACE"] ?? configuration.namespace
            let settings = DaemonSetSettings(
                image: image, imagePullPolicy: daemonImagePullPolicy,
                kubeletDirectory: environment["KUBELET_DIR"] ?? "/var/lib/kubelet",
                restrictToNamespace: environment["RESTRICT_TO_NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 })
            try await KubernetesClient.withClient(configuration: configuration) { client in
                var services: [any Service] = []
                var elector: LeaderElector?
                if leaderElect {
                    let lease = LeaderElector(client: client, configuration: .init(
                        leaseName: "security-profiles-operator-lock", namespace: leaderElectionNamespace ?? namespace,
                        identity: "\(ProcessInfo.processInfo.hostName)_\(UUID().uuidString.lowercased())"))
                    services.append(lease)
                    elector = lease
                }
                let manager = OperatorManager(
                    client: client,
                    configuration: ManagerConfiguration(
                        operatorNamespace: namespace, daemonSet: settings, staticWebhookConfig: !webhook,
                        webhook: WebhookSettings(image: image, imagePullPolicy: daemonImagePullPolicy, certificateSource: webhookCertSource)),
                    elector: elector)
                services.append(manager)
                // A standby replica is ready; the leader once its caches are filled.
                let ready = HealthServer.Check(name: "manager-caches") { [elector] in elector?.isLeader == false || manager.hasSynced }
                try await runRole(
                    "manager", options: options, services: services, server: configuration.server.absoluteString, checks: [ready],
                    metrics: MetricsServing(registry: registry, client: client, defaultPort: 8443, namespace: namespace),
                    defaultHealthPort: DefaultPorts.managerHealth)
            }
        }
    }

    /// The per-node daemon (spod): installs every SeccompProfile on this node.
    struct Daemon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the per-node daemon (spod).", aliases: ["d"])

        @OptionGroup var options: ProcessOptions
        @OptionGroup var cluster: ClusterOptions

        @Option(help: "The kubelet's root directory (default: KUBELET_DIR, then /var/lib/kubelet).")
        var kubeletDir: String?

        @Flag(help: "Run without a cluster: install the SeccompProfiles (and spod) found in --manifests.")
        var standalone = false

        @Option(help: "With --standalone: the directory of YAML/JSON manifests, re-read when it changes.")
        var manifests: String?

        @Flag(help: "With --standalone: apply the manifests once and exit (status 1 when a profile was rejected).")
        var once = false

        // The spod's features, as the manager's DaemonSet passes them.
        @Option(name: .customLong("with-selinux"), help: "SelinuxProfiles requested by the spod (enableSelinux).")
        var withSelinux = false
        @Option(name: .customLong("with-apparmor"), help: "AppArmorProfiles requested by the spod (enableAppArmor).")
        var withAppArmor = false
        @Option(name: .customLong("with-recording"), help: "Profile recording requested by the spod (enableLogEnricher or enableBpfRecorder).")
        var withRecording = false
        @OptionGroup var recording: RecorderOptions

        func validate() throws {
            if standalone, manifests == nil { throw ValidationError("--standalone needs --manifests DIR") }
            if !standalone, manifests != nil || once { throw ValidationError("--manifests and --once need --standalone") }
        }

        func run() async throws {
            // One event loop: a node daemon talks to one API server, and keeping every
            // connection on one thread saves the hand-overs between two (a sixth of its CPU
            // when it installs a thousand profiles). Set before anything starts the loops.
            NIOSingletons.groupLoopCountSuggestion = 1
            let registry = options.bootstrap()
            let environment = ProcessInfo.processInfo.environment
            let kubelet = kubeletDir ?? environment["KUBELET_DIR"] ?? "/var/lib/kubelet"
            if standalone, let manifests {
                try await runStandalone(manifests: manifests, kubelet: kubelet)
                return
            }
            guard let node = environment["NODE_NAME"], !node.isEmpty else {
                throw ValidationError("NODE_NAME must name the node this daemon runs on (the DaemonSet sets it from spec.nodeName)")
            }
            // A node's daemon writes a few objects per profile; bulk changes should not queue
            // behind the manager's conservative limit.
            let configuration = try cluster.loadConfiguration(qps: 200, burst: 400)
            let identity = DaemonIdentity(
                nodeName: node,
                operatorNamespace: environment["OPERATOR_NAMESPACE"] ?? configuration.namespace,
                spodName: environment["SPOD_NAME"] ?? SecurityProfilesOperatorDaemon.defaultName)
            try await KubernetesClient.withClient(configuration: configuration) { client in
                let seccomp = SeccompDaemon(client: client, identity: identity, kubeletDirectory: kubelet, builtInProfiles: BuiltInProfiles.all)
                var services = seccomp.services
                var checks = [HealthServer.Check(name: "seccomp-spod") { seccomp.isReady }]
                if withAppArmor {
                    // A node without AppArmor reports it on every AppArmorProfile; the daemon
                    // stays ready for the other kinds.
                    let appArmor = NodeProfileDaemon.appArmor(client: client, identity: identity)
                    services += appArmor.services
                    checks.append(HealthServer.Check(name: "apparmor-spod") { appArmor.hasSynced })
                }
                if withSelinux {
                    let committer = SelinuxModuleCommitter(modules: SelinuxModuleStore())
                    let selinux = NodeProfileDaemon.selinux(SelinuxProfile.self, client: client, identity: identity, committer: committer)
                    let raw = NodeProfileDaemon.selinux(RawSelinuxProfile.self, client: client, identity: identity, committer: committer)
                    services += selinux.services + raw.services
                    checks.append(HealthServer.Check(name: "selinux-spod") { selinux.hasSynced && raw.hasSynced })
                }
                if withRecording || environment["ENABLE_RECORDING"] == "true" {
                    let logger = Logger(label: "spo.recorder")
                    // With enableBpfRecorder the DaemonSet's bpf-recorder container owns the
                    // node's recordings; flags given here override that.
                    let sidecar = environment["ENABLE_BPF_RECORDER"] == "true" && recording.withBpfRecorder == nil && recording.withLogsRecorder == nil
                    if sidecar {
                        logger.info("recorder.in_bpf_recorder_container")
                    } else {
                        let recorder = recording.recorder(
                            client: client, node: node,
                            logs: recording.withLogsRecorder ?? (environment["ENABLE_LOG_ENRICHER"] == "true"),
                            bpf: recording.withBpfRecorder ?? false, logger: logger)
                        services += recorder.services
                        checks.append(HealthServer.Check(name: "recorder-spod") { recorder.hasSynced })
                    }
                }
                try await runRole(
                    "daemon", options: options, services: services, server: configuration.server.absoluteString,
                    checks: checks,
                    metrics: MetricsServing(registry: registry, client: client, defaultPort: 9443, namespace: identity.operatorNamespace),
                    defaultHealthPort: DefaultPorts.daemonHealth)
            }
        }

        private func runStandalone(manifests: String, kubelet: String) async throws {
            let daemon = StandaloneSeccompDaemon(
                manifests: URL(fileURLWithPath: manifests),
                directory: SeccompProfileDirectory(kubeletDirectory: kubelet),
                builtInProfiles: BuiltInProfiles.all)
            if once {
                let failed = daemon.syncOnce().contains { outcome in
                    switch outcome {
                    case .rejected, .unreadable: return true
                    default: return false
                    }
                }
                if failed { throw ExitCode(1) }
                return
            }
            try await runRole("daemon", options: options, services: [daemon], defaultHealthPort: DefaultPorts.daemonHealth)
        }
    }

    /// The DaemonSet's init container: gives the profile directory on the host to the
    /// daemon's non-root user.
    struct NonRootEnabler: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "non-root-enabler",
            abstract: "Prepare <kubelet-dir>/seccomp/operator for a daemon that runs as a non-root user (run as root).")

        @Option(help: "The kubelet's root directory (default: KUBELET_DIR, then /var/lib/kubelet).")
        var kubeletDir: String?

        @Option(help: "The daemon's user and group id.")
        var owner: UInt32 = 65535

        func run() throws {
            let kubelet = kubeletDir ?? ProcessInfo.processInfo.environment["KUBELET_DIR"] ?? "/var/lib/kubelet"
            let directory = SeccompProfileDirectory(kubeletDirectory: kubelet)
            let changed = try directory.handOver(toUser: owner, group: owner)
            print("\(directory.root): owned by \(owner):\(owner) (\(changed) entries changed)")
        }
    }

    /// Writes the manifests generated from the Swift API (`make manifests`).
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate deploy/ manifests (the CRDs) from the operator's API types.",
            subcommands: [GenerateManifests.self])
    }

    struct GenerateManifests: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "manifests", abstract: "Write the generated files under the deploy directory.")

        @Option(help: "The deploy directory.")
        var deployDir = "deploy"

        @Flag(help: "Only check: exit non-zero and list the files that are out of date.")
        var check = false

        func run() throws {
            let directory = URL(fileURLWithPath: deployDir)
            if check {
                let stale = try Manifests.stale(in: directory)
                guard stale.isEmpty else {
                    throw ValidationError("out of date (run `make manifests`): " + stale.joined(separator: ", "))
                }
                return
            }
            for path in try Manifests.write(to: directory) { print("wrote \(deployDir)/\(path)") }
        }
    }

    /// Prints the version.
    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the version.", aliases: ["v"])

        func run() {
            print(OperatorVersion.current)
        }
    }
}
