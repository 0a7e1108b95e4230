import AsyncHTTPClient
import CoreMetrics
import Foundation
import KubeClient
import KubeModels
import KubeTestServer
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ProcFS
import SPOAPI
@testable import SPOServer
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing

/// Stores the shipped `spo-metrics-client` ClusterRole and its binding in the test API server.
func applyMetricsClientRole(to server: KubeTestServer) throws {
    try server.apply(manifest: String(contentsOf: repositoryRoot.appendingPathComponent("deploy/rbac/metrics-client.yaml"), encoding: .utf8))
}

/// A GET over HTTPS trusting only `trust` (`nil`: any certificate, for a process's
/// self-signed one); returns the status and body.
func getTLS(_ url: String, trust: [NIOSSLCertificate]?, token: String? = nil, timeout: TimeAmount = .seconds(60)) async throws -> (Int, String) {
    var tls = TLSConfiguration.makeClientConfiguration()
    if let trust {
        tls.trustRoots = .certificates(trust)
    } else {
        tls.certificateVerification = .none
    }
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    do {
        var request = HTTPClientRequest(url: url)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await client.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 16 << 20)
        try await client.shutdown()
        return (Int(response.status.code), String(buffer: body))
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// Runs `promtool check metrics` on an exposition; returns its exit status and output.
func promtoolCheck(_ exposition: String) async throws -> (status: Int32, output: String) {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("exposition-\(UUID().uuidString).txt")
    try exposition.write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let result = try await ChildProcess.run("/bin/sh", ["-c", "promtool check metrics < '\(file.path)'"], environment: ["PATH": "/usr/bin:/bin"])
    return (result.status, result.output)
}

/// Runs a metrics server on a free port for `body`, then shuts it down gracefully.
func withMetricsServer(
    registry: MetricsRegistry, certificate: ServingCertificate, authorizer: any ScrapeAuthorizer,
    _ body: @escaping @Sendable (_ base: String) async throws -> Void
) async throws {
    let port = Locked<Int?>(nil)
    let server = MetricsServer(
        host: "127.0.0.1", port: 0, registry: registry, certificate: certificate, authorizer: authorizer,
        logger: Logger(label: "test"), onListening: { bound in port.withLock { $0 = bound } })
    try await testGracefulShutdown { trigger in
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            #expect(await eventually { port.value != nil })
            try await body("https://127.0.0.1:\(port.value ?? 0)")
            trigger.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }
}

@Suite struct MetricsServerTests {
    /// The scrape flow of the seed (`spo-metrics-client` bound to the operator namespace's
    /// `default` ServiceAccount), decided by the shipped ClusterRole through TokenReview and
    /// SubjectAccessReview against the test API server.
    @Test func scrapesNeedATokenWhoseIdentityHoldsTheMetricsClientRole() async throws {
        try await KubeTestServer.withServer { api in
            try applyMetricsClientRole(to: api)
            api.addServiceAccountToken("scraper-token", namespace: "security-profiles-operator", name: "default")
            api.addServiceAccountToken("app-token", namespace: "apps", name: "web")
            let registry = OperatorMetricsCatalog.makeRegistry()
            Counter(label: OperatorMetric.seccompProfile.name, dimensions: [("operation", "update")], factory: registry.factory).increment()
            let certificate = try ServingCertificate(directory: nil, hostnames: ["metrics.security-profiles-operator.svc"])
            let trust = try #require(certificate.leafCertificate)
            try await KubernetesClient.withClient(configuration: api.clientConfiguration()) { client in
                // TTLs longer than the test, so that a slow machine cannot expire them mid-way.
                let authorizer = KubernetesScrapeAuthorizer(client: client, allowedTTL: .seconds(300), deniedTTL: .seconds(300))
                try await withMetricsServer(registry: registry, certificate: certificate, authorizer: authorizer) { base in
                    for path in ["/metrics", "/metrics-spod"] {
                        #expect(try await getTLS(base + path, trust: [trust]).0 == 401)
                        #expect(try await getTLS(base + path, trust: [trust], token: "made-up").0 == 401)
                        let forbidden = try await getTLS(base + path, trust: [trust], token: "app-token")
                        #expect(forbidden.0 == 403)
                        #expect(forbidden.1.contains("system:serviceaccount:apps:web may not get \(path)"))
                        #expect(try await getTLS(base + path, trust: [trust], token: "scraper-token").0 == 200)
                    }
                    let spod = try await getTLS(base + "/metrics-spod", trust: [trust], token: "scraper-token").1
                    #expect(spod.contains("security_profiles_operator_seccomp_profile_total{operation=\"update\"} 1\n"))
                    #expect(spod.contains("process_resident_memory_bytes "))
                    let controller = try await getTLS(base + "/metrics", trust: [trust], token: "scraper-token").1
                    #expect(!controller.contains("security_profiles_operator_"))
                    #expect(controller.contains("rest_client_requests_total{code=\"201\"") || controller.contains("process_open_fds "))

                    // Decisions are cached: more scrapes send no more reviews.
                    let reviews = api.requests.filter { $0.path.hasSuffix("reviews") }.count
                    _ = try await getTLS(base + "/metrics-spod", trust: [trust], token: "scraper-token")
                    _ = try await getTLS(base + "/metrics", trust: [trust], token: "app-token")
                    #expect(api.requests.filter { $0.path.hasSuffix("reviews") }.count == reviews)
                }
            }
        }
    }

    /// With the API server unreachable nobody is let in, and the failure is not cached.
    @Test func aFailingReviewDeniesWithoutCaching() async throws {
        try await KubeTestServer.withServer { api in
            try applyMetricsClientRole(to: api)
            api.addServiceAccountToken("scraper-token", namespace: "security-profiles-operator", name: "default")
            let certificate = try ServingCertificate(directory: nil, hostnames: ["localhost"])
            let trust = try #require(certificate.leafCertificate)
            var configuration = api.clientConfiguration()
            configuration.retry = .none
            try await KubernetesClient.withClient(configuration: configuration) { client in
                try await withMetricsServer(
                    registry: OperatorMetricsCatalog.makeRegistry(), certificate: certificate, authorizer: KubernetesScrapeAuthorizer(client: client)
                ) { base in
                    api.faults.inject(.status(code: 500), pathContains: "tokenreviews")
                    let duringFailure: (Int, String) = try await getTLS(base + "/metrics", trust: [trust], token: "scraper-token")
                    #expect(duringFailure.0 == 401)
                    let afterwards: (Int, String) = try await getTLS(base + "/metrics", trust: [trust], token: "scraper-token")
                    #expect(afterwards.0 == 200)
                }
            }
        }
    }

    /// A certificate from a Secret directory is replaced on the next connection after the
    /// files change; until they exist a self-signed one is served.
    @Test func theServingCertificateFollowsItsFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        @Sendable func install(_ tls: TestTLS) throws {
            // Written as the kubelet does for a Secret: new files, then swapped into place.
            try tls.certificatePEM.write(to: directory.appendingPathComponent("tls.crt.new"), atomically: true, encoding: .utf8)
            try tls.privateKeyPEM.write(to: directory.appendingPathComponent("tls.key.new"), atomically: true, encoding: .utf8)
            for name in ["tls.key", "tls.crt"] {
                _ = rename(directory.appendingPathComponent(name + ".new").path, directory.appendingPathComponent(name).path)
            }
        }
        let first = try TestTLS.generate()
        let second = try TestTLS.generate()
        let trustFirst = try NIOSSLCertificate.fromPEMBytes(Array(first.certificatePEM.utf8))
        let trustSecond = try NIOSSLCertificate.fromPEMBytes(Array(second.certificatePEM.utf8))

        let certificate = try ServingCertificate(directory: directory.path, hostnames: ["localhost"])
        #expect(certificate.isSelfSigned)
        let selfSigned = try #require(certificate.leafCertificate)
        try await withMetricsServer(registry: OperatorMetricsCatalog.makeRegistry(), certificate: certificate, authorizer: AllowAll()) { base in
            #expect(try await getTLS(base + "/metrics", trust: [selfSigned]).0 == 200)
            try install(first)
            #expect(try await getTLS(base + "/metrics", trust: trustFirst).0 == 200)
            await #expect(throws: (any Error).self) { try await getTLS(base + "/metrics", trust: [selfSigned], timeout: .seconds(1)) }
            try install(second)
            #expect(try await getTLS(base + "/metrics", trust: trustSecond).0 == 200)
            await #expect(throws: (any Error).self) { try await getTLS(base + "/metrics", trust: trustFirst, timeout: .seconds(1)) }
        }
    }

    /// A certificate whose key is not its own (files caught between two writes) is never
    /// served: the previous pair stays until the files match again.
    @Test func aMismatchedPairKeepsThePreviousCertificate() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try TestTLS.generate()
        let second = try TestTLS.generate()
        try first.write(into: directory)
        let certificate = try ServingCertificate(directory: directory.path, hostnames: ["localhost"])
        let served = try #require(certificate.leafCertificate)
        #expect(served == (try NIOSSLCertificate.fromPEMBytes(Array(first.certificatePEM.utf8)))[0])
        // The new certificate arrived, its key not yet.
        try second.certificatePEM.write(to: directory.appendingPathComponent("tls.crt"), atomically: true, encoding: .utf8)
        #expect(certificate.servesDirectoryCertificate)
        #expect(certificate.leafCertificate == served)
        #expect(throws: ServingCertificate.LoadError.self) { try ServingCertificate(directory: directory.path, hostnames: ["localhost"]) }
        try second.privateKeyPEM.write(to: directory.appendingPathComponent("tls.key"), atomically: true, encoding: .utf8)
        #expect(certificate.servesDirectoryCertificate)
        #expect(certificate.leafCertificate == (try NIOSSLCertificate.fromPEMBytes(Array(second.certificatePEM.utf8)))[0])
    }

    @Test func brokenCertificateFilesAreAnErrorThatNamesTheFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "not a certificate".write(to: directory.appendingPathComponent("tls.crt"), atomically: true, encoding: .utf8)
        try "not a key".write(to: directory.appendingPathComponent("tls.key"), atomically: true, encoding: .utf8)
        let error = #expect(throws: ServingCertificate.LoadError.self) {
            try ServingCertificate(directory: directory.path, hostnames: ["localhost"])
        }
        #expect(error?.path == directory.path + "/tls.crt")
    }

    /// Both endpoints' output passes promtool, with the help texts and label values of the
    /// reference for every operator family.
    @Test func expositionPassesPromtoolWithUpstreamNamesAndHelp() async throws {
        let registry = OperatorMetricsCatalog.makeRegistry()
        let factory = registry.factory
        for reason in OperatorMetric.SeccompErrorReason.allCases {
            Counter(label: OperatorMetric.seccompProfileError.name, dimensions: [("reason", reason.rawValue)], factory: factory).increment()
        }
        Counter(
            label: OperatorMetric.seccompProfileAudit.name,
            dimensions: zip(OperatorMetric.seccompProfileAudit.labelNames, ["node-1", "default", "web-0", "nginx", "/usr/sbin/nginx", "mkdir"]).map { ($0, $1) },
            factory: factory
        ).increment(by: 3)
        Counter(label: "controller_runtime_reconcile_total", dimensions: [("controller", "seccompprofile"), ("result", "success")], factory: factory).increment()
        Timer(label: "controller_runtime_reconcile_time_seconds", dimensions: [("controller", "seccompprofile")], factory: factory).recordMilliseconds(12)
        Gauge(label: "workqueue_depth", dimensions: [("name", "seccompprofile")], factory: factory).record(2)

        let spod = String(decoding: registry.exposition(.operatorCounters), as: UTF8.self)
        #expect(spod.contains("""
            # HELP security_profiles_operator_seccomp_profile_error_total Counter about seccomp profile errors.
            # TYPE security_profiles_operator_seccomp_profile_error_total counter

            """))
        #expect(spod.contains("security_profiles_operator_seccomp_profile_error_total{reason=\"ProfileNotAllowed\"} 1\n"))
        #expect(spod.contains(
            "security_profiles_operator_seccomp_profile_audit_total{node=\"node-1\",namespace=\"default\",pod=\"web-0\",container=\"nginx\",executable=\"/usr/sbin/nginx\",syscall=\"mkdir\"} 3\n"))
        #expect(!spod.contains("controller_runtime"))
        let controller = String(decoding: registry.exposition(.controller), as: UTF8.self)
        #expect(controller.contains("# HELP controller_runtime_reconcile_total Total number of reconciliations per controller\n"))
        #expect(controller.contains("controller_runtime_reconcile_total{controller=\"seccompprofile\",result=\"success\"} 1\n"))
        #expect(controller.contains("controller_runtime_reconcile_time_seconds_bucket{controller=\"seccompprofile\",le=\"0.025\"} 1\n"))
        #expect(controller.contains("workqueue_depth{name=\"seccompprofile\"} 2"))
        for exposition in [spod, controller] {
            let check = try await promtoolCheck(exposition)
            #expect(check.status == 0, "\(check.output)")
        }
    }

    @Test func processMetricsComeFromProc() throws {
        let stat = ProcFS.Stat("4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 150 50 0 0 20 0 8 0 123456 987654321 2048 18446744073709551615")
        let fields: [Int] = [stat.utime, stat.stime, stat.startTime, stat.vsize, stat.rss]
        #expect(fields == [150, 50, 123456, 987654321, 2048])
        #expect(ProcessMetrics.bootTime(fromProcStat: "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n") == 1700000000)
        let now = ProcessMetrics.current()
        #expect(now.residentBytes > 1 << 20)
        #expect(now.openFDs > 2 && now.openFDs <= now.maxFDs)
        #expect(abs(now.startTimeSeconds - Date().timeIntervalSince1970) < 24 * 3600)
    }
}

/// Lets every scrape in, for tests about transport rather than authorization.
struct AllowAll: ScrapeAuthorizer {
    func authorize(token: String?, path: String) async -> ScrapeDecision { .allowed }
}
