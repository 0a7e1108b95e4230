import ArgumentParser
import Foundation
import Logging
import SPOServer
import ServiceLifecycle
import UnixSignals

/// The operator's single binary; each role is a subcommand.
@main
struct SecurityProfilesOperator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "security-profiles-operator",
        abstract: "Kubernetes Security Profiles Operator: seccomp, AppArmor and SELinux profiles as Kubernetes objects.",
        version: OperatorVersion.current,
        subcommands: [Manager.self, Daemon.self, Version.self]
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
func runRole(_ role: String, options: ProcessOptions, services: [any Service] = []) async throws {
    options.bootstrapLogging()
    var logger = Logger(label: "spo.\(role)")
    logger[metadataKey: "role"] = "\(role)"
    logger.info("process.starting", metadata: ["version": "\(OperatorVersion.current)", "pid": "\(getpid())"])
    let health = HealthServer(host: options.healthHost, port: options.healthPort, logger: logger)
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

extension SecurityProfilesOperator {
    /// The cluster-wide manager (spod configuration controller and webhooks come with later issues).
    struct Manager: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the cluster-wide manager.")

        @OptionGroup var options: ProcessOptions

        func run() async throws {
            try await runRole("manager", options: options)
        }
    }

    /// The per-node daemon (profile installation comes with later issues).
    struct Daemon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the per-node daemon (spod).")

        @OptionGroup var options: ProcessOptions

        func run() async throws {
            try await runRole("daemon", options: options)
        }
    }

    /// Prints the version.
    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the version.")

        func run() {
            print(OperatorVersion.current)
        }
    }
}
