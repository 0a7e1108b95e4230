// swift-tools-version:6.2
import PackageDescription

// MARK: - Shared settings

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// MARK: - Dependencies (all mirrored on the build machines)

let dependencies: [Package.Dependency] = [
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
]

let nio: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let lifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")

// MARK: - Targets

let targets: [Target] = [
    // Pure Kubernetes API models (meta/v1, core/v1 subset, coordination/v1, events) and JSON utilities.
    .target(name: "KubeModels", swiftSettings: swiftSettings),

    // The operator's API (group security-profiles-operator.x-k8s.io): models, validation, defaults. Pure.
    .target(
        name: "SPOAPI",
        dependencies: ["KubeModels", .product(name: "Crypto", package: "swift-crypto")],
        swiftSettings: swiftSettings
    ),

    // libseccomp, with wrappers for the macros Swift cannot import.
    .systemLibrary(name: "CSeccomp", path: "Sources/CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),

    // Seccomp domain logic: installed file format, base-profile merging, the allow-list guard. Pure.
    // Also the profile file formats spoc reads and writes (SeccompProfile YAML, raw JSON, OCI) and lint.
    .target(
        name: "SeccompKit",
        dependencies: ["SPOAPI", "KubeModels", .product(name: "Yams", package: "Yams")],
        swiftSettings: swiftSettings
    ),

    // Seccomp profiles compiled and loaded with libseccomp: name checks per architecture, BPF export, load.
    .target(name: "SeccompCompiler", dependencies: ["CSeccomp", "SPOAPI"], swiftSettings: swiftSettings),

    // AppArmor profile text from an AppArmorProfile's abstract rules. Pure.
    .target(name: "AppArmorKit", dependencies: ["SPOAPI", "KubeModels"], swiftSettings: swiftSettings),

    // SELinux profiles as CIL modules (SelinuxProfile translated, RawSelinuxProfile wrapped). Pure.
    .target(name: "SelinuxKit", dependencies: ["SPOAPI", "KubeModels"], swiftSettings: swiftSettings),

    // libapparmor (system library).
    .systemLibrary(name: "CAppArmor", path: "Sources/CAppArmor", pkgConfig: "libapparmor", providers: [.apt(["libapparmor-dev"])]),

    // AppArmor on the node: support check, compilation with apparmor_parser, loading and
    // removal through libapparmor's kernel interface.
    .target(name: "AppArmorNode", dependencies: ["CAppArmor"], swiftSettings: swiftSettings),

    // libsemanage sessions with their messages captured (the callback is variadic).
    .target(name: "CSELinux", linkerSettings: [.linkedLibrary("semanage"), .linkedLibrary("selinux"), .linkedLibrary("sepol")]),

    // The node's SELinux policy store: CIL modules installed and removed through libsemanage.
    .target(name: "SelinuxNode", dependencies: ["CSELinux"], swiftSettings: swiftSettings),

    // ptrace and libbpf calls Swift cannot make directly (variadic, va_list callbacks).
    .target(name: "CSyscallTrace", linkerSettings: [.linkedLibrary("bpf")]),

    // Which syscalls a command and its descendants make: the eBPF recorder (committed BPF
    // object, bpf/), the ptrace recorder, the exec helper that starts commands. Used by spoc.
    .target(
        name: "SyscallRecorder",
        dependencies: ["CSyscallTrace", "CSeccomp", "SeccompCompiler", "SPOAPI"],
        swiftSettings: swiftSettings
    ),

    // Reading /proc files and parsing /proc/<pid>/stat, for process metrics and the enricher.
    .target(name: "ProcFS", swiftSettings: swiftSettings),

    // Audit records: the parser of auditd/syslog/kmsg lines, container ids, the enriched record
    // and its log fields and counter labels, output de-duplication. Pure.
    .target(name: "AuditKit", dependencies: ["SPOAPI"], swiftSettings: swiftSettings),

    // Where audit lines come from: files followed like tail -F, /dev/kmsg.
    .target(name: "AuditSources", swiftSettings: swiftSettings),

    // The log enricher: audit sources (files, /dev/kmsg), pid → container → pod resolution,
    // backlog, de-duplicated output, counters.
    .target(
        name: "SPOEnricher",
        dependencies: [
            "AuditKit", "AuditSources", "ProcFS", "SPOAPI", "SeccompCompiler", "KubeClient", "KubeRuntime", "KubeModels", logging, lifecycle,
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "DequeModule", package: "swift-collections"),
        ],
        swiftSettings: swiftSettings
    ),

    // The node daemon's reconcilers (seccomp files, AppArmor in the kernel, SELinux modules in
    // the policy store) and their node-side I/O.
    .target(
        name: "SPODaemon",
        dependencies: [
            "SPOAPI", "SeccompKit", "SeccompCompiler", "AppArmorKit", "AppArmorNode", "SelinuxKit", "SelinuxNode",
            "KubeClient", "KubeRuntime", "KubeModels", logging, lifecycle,
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ],
        swiftSettings: swiftSettings
    ),

    // What the manager decides, without I/O: the DaemonSet rendered from a spod, profile status
    // aggregation over node statuses, which profiles a pod uses.
    .target(name: "SPOManagerKit", dependencies: ["SPOAPI", "KubeModels"], swiftSettings: swiftSettings),

    // What the admission webhooks decide, without I/O: AdmissionReview decoding and answers,
    // the ProfileBinding and recording mutations of a pod, JSON patches.
    .target(name: "SPOWebhookKit", dependencies: ["SPOAPI", "KubeModels"], swiftSettings: swiftSettings),

    // The webhook role: the HTTPS admission server over caches of bindings, recordings and profiles.
    .target(
        name: "SPOWebhook",
        dependencies: [
            "SPOWebhookKit", "SPOServer", "SPOAPI", "KubeClient", "KubeRuntime", "KubeModels", logging, lifecycle,
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            nio,
        ],
        swiftSettings: swiftSettings
    ),

    // Recording decisions, without I/O: which containers a pod is recorded for, profile names,
    // recorded profiles, merging partial profiles.
    .target(name: "RecordingKit", dependencies: ["SPOAPI", "KubeModels", "AuditKit", "SeccompKit"], swiftSettings: swiftSettings),

    // The node's profile recorder: pods with recording annotations, the logs (log enricher) and
    // bpf (eBPF engine) sources, profiles created at collection, state kept across restarts.
    .target(
        name: "SPORecorder",
        dependencies: [
            "RecordingKit", "SPOEnricher", "SyscallRecorder", "SeccompCompiler", "AuditKit", "ProcFS", "SPOAPI", "KubeClient", "KubeRuntime",
            "KubeModels", logging, lifecycle,
        ],
        swiftSettings: swiftSettings
    ),

    // The manager's controllers: spod → DaemonSet, profile status aggregation, workload tracking.
    .target(
        name: "SPOManager",
        dependencies: [
            "SPOAPI", "SPOManagerKit", "SPOWebhookKit", "RecordingKit", "KubeClient", "KubeRuntime", "KubeModels", logging, lifecycle,
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
        ],
        swiftSettings: swiftSettings
    ),

    // Generated deploy/ manifests (CRDs) rendered as YAML.
    .target(
        name: "SPOManifests",
        dependencies: ["SPOAPI", "KubeModels", .product(name: "Yams", package: "Yams")],
        swiftSettings: swiftSettings
    ),

    // Hand-written Kubernetes REST/watch client over AsyncHTTPClient.
    .target(
        name: "KubeClient",
        dependencies: [
            "KubeModels",
            nio,
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            logging,
        ],
        swiftSettings: swiftSettings
    ),

    // Controller runtime: informers, work queue, controllers, leader election, events.
    .target(
        name: "KubeRuntime",
        dependencies: [
            "KubeClient",
            "KubeModels",
            .product(name: "DequeModule", package: "swift-collections"),
            lifecycle,
            logging,
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ],
        swiftSettings: swiftSettings
    ),

    // HTTP servers of the operator's processes: health probes, and the metrics endpoints over
    // HTTPS with TokenReview/SubjectAccessReview authorization; the Prometheus registries.
    .target(
        name: "SPOServer",
        dependencies: [
            "KubeClient",
            "KubeModels",
            "KubeRuntime",
            "SPOAPI",
            "ProcFS",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            lifecycle,
            logging,
        ],
        swiftSettings: swiftSettings
    ),

    // The one binary with its roles as subcommands.
    .executableTarget(
        name: "security-profiles-operator",
        dependencies: [
            "KubeClient",
            "KubeRuntime",
            "SPOServer",
            "SPOManifests",
            "SPOAPI",
            "SPODaemon",
            "SelinuxNode",
            "SPOEnricher",
            "AuditSources",
            "KubeModels",
            "SPOManager",
            "SPOManagerKit",
            "SPOWebhook",
            "SPORecorder",
            "SyscallRecorder",
            "SeccompCompiler",
            "SeccompKit",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            lifecycle,
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            logging,
        ],
        swiftSettings: swiftSettings
    ),

    // The single-machine tool: run, record, validate, diff, merge, convert.
    .executableTarget(
        name: "spoc",
        dependencies: [
            "SPOAPI", "KubeModels", "SeccompKit", "SeccompCompiler", "SyscallRecorder", "AuditKit", "AuditSources", "ProcFS", "CSeccomp",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ],
        swiftSettings: swiftSettings
    ),

    // MARK: Test support and tests

    // In-process Kubernetes API server for tests, with fault injection.
    .target(
        name: "KubeTestServer",
        dependencies: [
            "KubeModels",
            "KubeClient",
            nio,
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Yams", package: "Yams"),
            logging,
        ],
        path: "Tests/KubeTestServer",
        swiftSettings: swiftSettings
    ),

    // Figures for the client and runtime (see Benchmarks/README.md); never part of the tests.
    .executableTarget(
        name: "kube-benchmarks",
        dependencies: ["KubeClient", "KubeRuntime", "KubeModels", "KubeTestServer", nio, logging],
        path: "Benchmarks/KubeBenchmarks",
        swiftSettings: swiftSettings
    ),
    // The test API server as a process, for benchmarks that need separate processes.
    .executableTarget(
        name: "kube-test-apiserver",
        dependencies: ["KubeTestServer", "KubeModels", "SPOAPI"],
        path: "Benchmarks/TestAPIServer",
        swiftSettings: swiftSettings
    ),
    // Shared helpers of the process benchmarks.
    .target(name: "BenchSupport", path: "Benchmarks/BenchSupport", swiftSettings: swiftSettings),
    // Node-daemon figures through the API and the file system (Benchmarks/daemon-bench.sh).
    .executableTarget(
        name: "daemon-bench",
        dependencies: ["KubeClient", "KubeModels", "SPOAPI", "BenchSupport"],
        path: "Benchmarks/DaemonBench",
        swiftSettings: swiftSettings
    ),
    // Manager figures through the API (Benchmarks/manager-bench.sh).
    .executableTarget(
        name: "manager-bench",
        dependencies: ["KubeClient", "KubeModels", "SPOAPI", "BenchSupport"],
        path: "Benchmarks/ManagerBench",
        swiftSettings: swiftSettings
    ),

    // Admission latency, throughput and memory of a webhook process (Benchmarks/webhook-bench.sh).
    .executableTarget(
        name: "webhook-bench",
        dependencies: [
            "KubeClient", "KubeModels", "SPOAPI", "BenchSupport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            nio,
        ],
        path: "Benchmarks/WebhookBench",
        swiftSettings: swiftSettings
    ),

    // Counts the process's allocations (glibc entry points interposed), for metrics-bench.
    .target(name: "CMallocCounter", path: "Benchmarks/CMallocCounter"),
    // Scrape latency, allocations and memory per series of the metrics registry.
    .executableTarget(
        name: "metrics-bench",
        dependencies: ["SPOServer", "SPOAPI", "BenchSupport", "CMallocCounter", .product(name: "CoreMetrics", package: "swift-metrics")],
        path: "Benchmarks/MetricsBench",
        swiftSettings: swiftSettings
    ),

    // Log enricher figures: parse and enrich throughput, a flood against the real process.
    .executableTarget(
        name: "enricher-bench",
        dependencies: ["AuditKit", "AuditSources", "SPOEnricher", "SPORecorder", "SPOAPI", "SPOServer", "KubeModels", "BenchSupport", logging],
        path: "Benchmarks/EnricherBench",
        swiftSettings: swiftSettings
    ),

    // The bpf recorder's syscall overhead (Benchmarks/recorder-bench.sh).
    .executableTarget(
        name: "recorder-bench",
        dependencies: ["SyscallRecorder", "BenchSupport"],
        path: "Benchmarks/RecorderBench",
        swiftSettings: swiftSettings
    ),
    // A loop of getppid calls, for spoc's recording overhead (Benchmarks/spoc-bench.sh).
    .executableTarget(name: "syscall-loop", path: "Benchmarks/SyscallLoop"),

    .testTarget(name: "KubeModelsTests", dependencies: ["KubeModels"], swiftSettings: swiftSettings),
    .testTarget(
        name: "WebhookTests",
        dependencies: [
            "SPOWebhook", "SPOManager", "SPOManagerKit", "SPOServer", "SPOAPI", "KubeClient", "KubeRuntime", "KubeModels", "KubeTestServer", logging,
            lifecycle, .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "RecorderTests",
        dependencies: [
            "SPORecorder", "RecordingKit", "SPOManager", "SPOAPI", "SeccompKit", "AuditSources", "KubeClient", "KubeRuntime", "KubeModels", "KubeTestServer", logging,
            lifecycle,
        ],
        swiftSettings: swiftSettings
    ),
    .testTarget(name: "WebhookKitTests", dependencies: ["SPOWebhookKit", "SPOManagerKit", "SPOAPI", "KubeModels"], swiftSettings: swiftSettings),
    .testTarget(name: "AuditTests", dependencies: ["AuditKit", "AuditSources", "SPOAPI", "KubeTestServer"], swiftSettings: swiftSettings),
    .testTarget(
        name: "EnricherTests",
        dependencies: [
            "SPOEnricher", "AuditSources", "AuditKit", "SPOAPI", "KubeClient", "KubeRuntime", "KubeModels", "KubeTestServer", lifecycle, logging,
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            .product(name: "MetricsTestKit", package: "swift-metrics"),
        ],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "ManagerTests",
        dependencies: [
            "SPOManager", "SPOManagerKit", "SPOAPI", "KubeClient", "KubeRuntime", "KubeModels", "KubeTestServer", logging,
            .product(name: "Yams", package: "Yams"),
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
        ],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "DaemonTests",
        dependencies: [
            "SPODaemon", "AppArmorNode", "SelinuxNode", "SelinuxKit", "SPOAPI", "KubeClient", "KubeRuntime", "KubeModels", "KubeTestServer",
            lifecycle, logging,
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            .product(name: "MetricsTestKit", package: "swift-metrics"),
        ],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "SeccompTests",
        dependencies: ["SPODaemon", "SeccompKit", "SeccompCompiler", "SPOAPI", "KubeModels", .product(name: "Yams", package: "Yams")],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "AppArmorTests",
        dependencies: ["AppArmorKit", "AppArmorNode", "SPOAPI", "KubeModels", "KubeTestServer", .product(name: "Yams", package: "Yams")],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "SelinuxTests",
        dependencies: ["SelinuxKit", "SelinuxNode", "SPOAPI", "KubeModels", "KubeTestServer"],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "SpocTests",
        dependencies: ["SeccompKit", "SPOAPI", "KubeTestServer"],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "SPOAPITests",
        dependencies: [
            "SPOAPI", "SPOManifests", "KubeModels", "KubeClient", "KubeTestServer",
            .product(name: "Yams", package: "Yams"),
        ],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "KubeClientTests",
        dependencies: ["KubeClient", "KubeModels", "KubeTestServer", nio, logging],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "KubeRuntimeTests",
        dependencies: [
            "KubeRuntime", "KubeClient", "KubeModels", "KubeTestServer", lifecycle, logging,
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            .product(name: "MetricsTestKit", package: "swift-metrics"),
        ],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "OperatorTests",
        dependencies: [
            "SPOServer", "ProcFS", "KubeModels", "KubeTestServer", "SPOAPI", "SeccompKit", lifecycle, logging, nio,
            .product(name: "Yams", package: "Yams"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ],
        swiftSettings: swiftSettings
    ),
]

let package = Package(
    name: "security-profiles-operator",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "security-profiles-operator", targets: ["security-profiles-operator"]),
        .executable(name: "spoc", targets: ["spoc"]),
        .library(name: "KubeClient", targets: ["KubeClient"]),
        .library(name: "KubeRuntime", targets: ["KubeRuntime"]),
        .library(name: "KubeModels", targets: ["KubeModels"]),
    ],
    dependencies: dependencies,
    targets: targets
)
