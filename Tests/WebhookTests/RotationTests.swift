import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import NIOSSL
import SPOAPI
import SPOManagerKit
import SPOServer
import SPOWebhook
import Synchronization
import Testing

/// Certificates renewed and the CA rotated while pods keep being created: none is lost.
@Suite struct RotationTests {
    @Test func rotatingTheCertificatesDuringAStreamOfPodCreationsLosesNone() async throws {
        // A CA of 20 s renewed with 10 s left, serving certificates of 10 s renewed with 5 s
        // left (margins a loaded two-core machine's scheduling keeps to), half a second to settle.
        let policy = WebhookCertificatePlan.Policy(caLifetime: 20, servingLifetime: 10, renewWhenLeft: 0.5, settle: 0.5)
        try await WebhookHarness.run(policy: policy) { harness in
            try harness.namespace("apps", labels: [SPOMetadata.enableBindingLabel: ""])
            try harness.installedSeccompProfile("apps", "p")
            try await harness.binding("apps", "b", profile: "p", image: AdmissionTests.image)
            func fingerprint(_ name: String, _ key: String) -> String? {
                harness.server.object(Secret.self, namespace: operatorNamespace, name: name)?.data?[key]
            }
            var servingCertificates: Set<String> = []
            var authorities: Set<String> = []
            var created = 0
            var failures: [String] = []
            let begin = ContinuousClock.now
            let deadline = begin + .seconds(16)
            func snapshot() -> String {
                func h(_ text: String?) -> String { text.map { String(Digest.sha256Hex($0).prefix(6)) } ?? "-" }
                let ca = harness.server.object(Secret.self, namespace: operatorNamespace, name: "spo-webhook-ca")
                let serving = harness.server.object(Secret.self, namespace: operatorNamespace, name: WebhookRenderer.certificateSecretName)
                let bundle = harness.configuration?.webhooks?.map { h($0.clientConfig.caBundle) } ?? []
                let presented = (try? harness.certificate.leafCertificate?.toDERBytes()).map { Data($0).base64EncodedString() }
                return "t=\(ContinuousClock.now - begin) ca=\(h(ca?.data?["ca.crt"])) prev=\(h(ca?.data?["previous-ca.crt"])) "
                    + "serving=\(h(serving?.data?["tls.crt"])) serving.ca=\(h(serving?.data?["ca.crt"])) bundle=\(bundle) "
                    + "presented=\(presented.map { h($0) } ?? "-")"
            }
            while ContinuousClock.now < deadline {
                do {
                    let pod = try await harness.create(harness.pod("apps", "stream-", image: AdmissionTests.image, generateName: true))
                    if WebhookHarness.seccompProfile(of: pod) == nil { failures.append("\(pod.metadata.name ?? ""): not mutated") }
                    created += 1
                } catch {
                    failures.append("\(error) at \(snapshot())")
                }
                if let serving = fingerprint(WebhookRenderer.certificateSecretName, "tls.crt") { servingCertificates.insert(serving) }
                if let ca = fingerprint("spo-webhook-ca", "ca.crt") { authorities.insert(ca) }
                try await Task.sleep(for: .milliseconds(40))
            }
            #expect(failures.isEmpty, "\(failures.count) of \(created): \(failures.prefix(3))")
            #expect(created > 20)
            #expect(authorities.count >= 2, "the CA was rotated at least once")
            #expect(servingCertificates.count >= 3, "serving certificates were renewed")
        }
    }
}
