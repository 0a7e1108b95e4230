import ArgumentParser
import Foundation
import KubeClient
import KubeRuntime
import Logging
import SPOAPI
import SPODaemon
import SPOManifests
import SPOServer
import SeccompKit
import ServiceLifecycle
import UnixSignals

/// The operator's single binary; each role is a subcommand.
@main
struct SecurityProfilesOperator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "security-profiles-operator",
        abstract: "Kubernetes Security Profiles Operator: seccomp, AppArmor and SELinux profiles as Kubernetes objects.",
        version: OperatorVersion.current,
        subcommands: [Manager.self, Daemon.self, SeccompExec.self, Generate.self, Version.self]
    )
}

/// The build's version string.
enum OperatorVersion {
    static let current = "0.1.0-dev"
}

/// Options every long-running role shares.
struct ProcessOptions: ParsableArguments {
    @Option(name: .customLong("health-probe-host"), help: "Address the health probes listen on.")
    var healthHost = "0.0.0.0"

    @Option(name: .customLong("health-probe-port"), help: "Port of /healthz and /readyz (0 picks a free port).")
    var healthPort = 8085

    @Option(help: "Log format: json or text.")
    var logFormat: LogFormat = .json

    @Option(help: "Minimum log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    enum LogFormat: String, ExpressibleByArgument, CaseIterable {
        case json, text
    }

    /// Bootstraps swift-log once for the process.
    func bootstrapLogging() {
        let level = logLevel
        switch logFormat {
        case .json:
            LoggingSystem.bootstrap { JSONLogHandler(label: $0, level: level) }
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Runs a role: its services plus the health server, stopped gracefully on SIGTERM or SIGINT.
/// Call ``ProcessOptions/bootstrapLogging()`` first.
func runRole(
    _ role: String, options: ProcessOptions, services: [any Service] = [], server: String? = nil,
    checks: [HealthServer.Check] = []
) async throws {
    var logger = Logger(label: "spo.\(role)")
    logger[metadataKey: "role"] = "\(role)"
    var metadata: Logger.Metadata = ["version": "\(OperatorVersion.current)", "pid": "\(getpid())"]
    if let server { metadata["k8s.server"] = "\(server)" }
    logger.info("process.starting", metadata: metadata)
    let health = HealthServer(host: options.healthHost, port: options.healthPort, checks: checks, logger: logger)
    let group = ServiceGroup(
        configuration: .init(
            services: [.init(service: health)] + services.map { .init(service: $0) },
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

    @Option(help: "Client-side limit of API requests per second (default: 20 for the manager, 200 for the daemon).")
    var kubeApiQps: Double?

    @Option(help: "Requests allowed in a burst above --kube-api-qps (default: 30 for the manager, 400 for the daemon).")
    var kubeApiBurst: Int?

    /// The configuration, with the role's request-rate defaults unless flags override them.
    func loadConfiguration(qps: Double = 20, burst: Int = 30) throws -> KubeClientConfiguration {
        var configuration = try KubeConfigLoader().load(kubeconfigPath: kubeconfig, context: context)
        configuration.qps = kubeApiQps ?? qps
        configuration.burst = kubeApiBurst ?? burst
        return configuration
    }
}

extension SecurityProfilesOperator {
    /// The cluster-wide manager. It holds the `security-profiles-operator-lock` Lease so that
    /// only one replica reconciles; its controllers come with later issues.
    struct Manager: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the cluster-wide manager.", aliases: ["m"])

        @OptionGroup var options: ProcessOptions
        @OptionGroup var cluster: ClusterOptions

        @Flag(inversion: .prefixedNo, help: "Elect a leader among manager replicas through a coordination.k8s.io Lease.")
        var leaderElect = true

        @Option(help: "Namespace of the leader-election Lease (default: OPERATOR_NAMESPACE, the kubeconfig/pod namespace).")
        var leaderElectionNamespace: String?

        func run() async throws {
            options.bootstrapLogging()
            let configuration = try cluster.loadConfiguration()
            try await KubernetesClient.withClient(configuration: configuration) { client in
                var services: [any Service] = []
                if leaderElect {
                    let namespace = leaderElectionNamespace
                        ?? ProcessInfo.processInfo.environment["OPERATOR_NAMESPACE"]
                        ?? configuration.namespace
                    services.append(LeaderElector(client: client, configuration: .init(
                        leaseName: "security-profiles-operator-lock", namespace: namespace,
                        identity: "\(ProcessInfo.processInfo.hostName)_\(UUID().uuidString.lowercased())")))
                }
                try await runRole("manager", options: options, services: services, server: configuration.server.absoluteString)
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

        func validate() throws {
            if standalone, manifests == nil { throw ValidationError("--standalone needs --manifests DIR") }
            if !standalone, manifests != nil || once { throw ValidationError("--manifests and --once need --standalone") }
        }

        func run() async throws {
            options.bootstrapLogging()
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
                try await runRole(
                    "daemon", options: options, services: seccomp.services, server: configuration.server.absoluteString,
                    checks: [HealthServer.Check(name: "seccomp-spod") { seccomp.hasSynced }])
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
            try await runRole("daemon", options: options, services: [daemon])
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
