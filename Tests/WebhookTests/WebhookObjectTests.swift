import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import SPOAPI
import SPOManagerKit
import SPOWebhook
import Testing

/// What the manager creates for the webhook and how spod patches reach it (checklist 23-25, 27).
@Suite struct WebhookObjectTests {
    @Test func theManagerCreatesTheWebhookObjects() async throws {
        try await WebhookHarness.run { harness in
            let configuration = try #require(harness.configuration)
            #expect(configuration.webhooks?.map(\.name) == ["binding.spo.io", "recording.spo.io"])
            #expect(configuration.webhooks?.allSatisfy { $0.failurePolicy == "Fail" } == true)
            #expect(await eventually { harness.server.object(Deployment.self, namespace: operatorNamespace, name: WebhookRenderer.deploymentName) != nil })
            let deployment = try #require(harness.server.object(Deployment.self, namespace: operatorNamespace, name: WebhookRenderer.deploymentName))
            #expect(deployment.spec?[path: ["template", "spec", "serviceAccountName"]] == "spo-webhook")
            #expect(harness.server.object(KubeService.self, namespace: operatorNamespace, name: WebhookRenderer.serviceName) != nil)
            let secret = try #require(harness.server.object(Secret.self, namespace: operatorNamespace, name: WebhookRenderer.certificateSecretName))
            #expect(secret.type == "kubernetes.io/tls" && Set(secret.data?.keys ?? [:].keys) == ["tls.crt", "tls.key", "ca.crt"])
            #expect(harness.server.object(Secret.self, namespace: operatorNamespace, name: "spo-webhook-ca")?.data?["ca.key"] != nil)
        }
    }

    /// Checklist 24 and 25 (how soon is measured by Benchmarks/manager-bench.sh, not here).
    @Test func webhookOptionsPatchesChangeTheConfiguration() async throws {
        try await WebhookHarness.run { harness in
            let spods = harness.client.resource(SecurityProfilesOperatorDaemon.self)
            _ = try await spods.patch("spod", namespace: operatorNamespace, patch: .merge(["spec": ["webhookOptions": [[
                "name": "binding.spo.io", "failurePolicy": "Ignore",
                "namespaceSelector": ["matchExpressions": [["key": "prod", "operator": "In", "values": ["true"]]]],
                "objectSelector": ["matchExpressions": [["key": "record-pod", "operator": "In", "values": ["true"]]]],
            ]]]]))
            func webhook(_ name: String) -> MutatingWebhook? { harness.configuration?.webhooks?.first { $0.name == name } }
            #expect(await eventually {
                webhook("binding.spo.io")?.failurePolicy == "Ignore"
                    && webhook("binding.spo.io")?.namespaceSelector == LabelSelector(matchExpressions: [.init(key: "prod", operator: "In", values: ["true"])])
                    && webhook("binding.spo.io")?.objectSelector == LabelSelector(matchExpressions: [.init(key: "record-pod", operator: "In", values: ["true"])])
            })
            #expect(webhook("recording.spo.io")?.failurePolicy == "Fail")
            #expect(webhook("recording.spo.io")?.namespaceSelector?.matchExpressions?.first?.key == SPOMetadata.enableRecordingLabel)
            // A second custom selector on another key (upstream did not notice this change).
            _ = try await spods.patch("spod", namespace: operatorNamespace, patch: .merge(["spec": ["webhookOptions": [[
                "name": "binding.spo.io", "namespaceSelector": ["matchLabels": ["team": "b"]],
            ]]]]))
            #expect(await eventually { webhook("binding.spo.io")?.namespaceSelector == LabelSelector(matchLabels: ["team": "b"]) })
            _ = try await spods.patch("spod", namespace: operatorNamespace, patch: .merge(["spec": ["webhookOptions": []]]))
            #expect(await eventually {
                webhook("binding.spo.io")?.failurePolicy == "Fail"
                    && webhook("binding.spo.io")?.namespaceSelector?.matchExpressions == [.init(key: SPOMetadata.enableBindingLabel, operator: "Exists")]
            })
        }
    }

    /// Checklist 27: with staticWebhookConfig the manager leaves the objects alone.
    @Test func aStaticWebhookConfigIsLeftAlone() async throws {
        try await WebhookHarness.run { harness in
            _ = try await harness.client.resource(SecurityProfilesOperatorDaemon.self).patch("spod", namespace: operatorNamespace, patch: .merge([
                "spec": ["staticWebhookConfig": true, "webhookOptions": [["name": "binding.spo.io", "failurePolicy": "Ignore"]]],
            ]))
            try await Task.sleep(for: .milliseconds(500))
            #expect(harness.configuration?.webhooks?.first?.failurePolicy == "Fail")
        }
    }
}
