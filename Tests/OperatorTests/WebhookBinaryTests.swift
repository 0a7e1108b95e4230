import AsyncHTTPClient
import Foundation
import KubeModels
import KubeTestServer
import NIOCore
import NIOHTTP1
import NIOSSL
import SPOAPI
import Testing

/// The `webhook` role as a process: HTTPS on its port, the AdmissionReview protocol in both
/// versions, clear 400s and a bounded body, readiness, SIGTERM, and only the API requests the
/// shipped RBAC grants.
@Suite struct WebhookBinaryTests {
    func post(_ url: String, body: [UInt8], trust: TestTLS) async throws -> (Int, String) {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(trust.certificatePEM.utf8)))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        defer { _ = client.shutdown() }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .seconds(30))
        let text = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), String(buffer: text))
    }

    @Test func theWebhookRoleAnswersAdmissionReviewsOverHTTPS() async throws {
        try await KubeTestServer.withServer(resources: operatorResources) { server in
            let kubeconfig = try writeKubeconfig(for: server)
            defer { try? FileManager.default.removeItem(at: kubeconfig) }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("webhook-tls-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let tls = try TestTLS.generate()
            try tls.write(into: directory)

            let running = try OperatorProcess([
                "webhook", "--kubeconfig", kubeconfig.path, "--cert-dir", directory.path, "--host", "127.0.0.1", "--port", "0",
                "--health-probe-host", "127.0.0.1", "--health-probe-port", "0",
            ])
            let listening = try await running.waitForRecord("webhook.listening")
            let port = try #require((listening["http.port"] as? String).flatMap(Int.init))
            let health = try #require((try await running.waitForRecord("health.listening")["http.port"] as? String).flatMap(Int.init))
            var ready = false
            for _ in 0..<900 where !ready {
                ready = (try? await get("http://127.0.0.1:\(health)/readyz"))?.0 == 200
                if !ready { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(ready)
            let base = "https://127.0.0.1:\(port)"

            let review = #"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u-1","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"apps","operation":"CREATE","object":{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#
            for path in ["/mutate-v1-pod-binding", "/mutate-v1-pod-recording"] {
                // The API server appends ?timeout=10s.
                let (status, body) = try await post(base + path + "?timeout=10s", body: Array(review.utf8), trust: tls)
                #expect(status == 200, "\(body)")
                let answer = try JSONDecoder().decode(AdmissionReview.self, from: Data(body.utf8))
                #expect(answer.apiVersion == "admission.k8s.io/v1beta1" && answer.response?.uid == "u-1" && answer.response?.allowed == true)
                #expect(answer.response?.result?.message == "pod unchanged")
            }
            let malformed = try await post(base + "/mutate-v1-pod-binding", body: Array("{\"apiVersion\":\"v1\"}".utf8), trust: tls)
            #expect(malformed.0 == 400 && malformed.1.hasPrefix("unsupported apiVersion \"v1\""), "\(malformed)")
            let huge = try await post(base + "/mutate-v1-pod-binding", body: [UInt8](repeating: UInt8(ascii: " "), count: 8 << 20), trust: tls)
            #expect(huge.0 == 413)

            #expect(try await running.stop() == 0)
            let used = Set(server.requests.map(Permission.init))
            let granted = try Permission.granted(in: "deploy/rbac/webhook.yaml")
            #expect(used.subtracting(granted).isEmpty, "not granted: \(used.subtracting(granted))")
            #expect(used.contains(Permission(group: SPOGroup.name, resource: "profilebindings", verb: "watch")))
        }
    }
}
