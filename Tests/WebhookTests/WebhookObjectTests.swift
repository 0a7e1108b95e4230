import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import SPOManager
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

/// With cert-manager (as upstream): an Issuer and a Certificate for the serving Secret, the CA
/// injector's annotation on the configuration, and no bundle of the manager's own.
@Suite struct CertManagerTests {
    @Test func theManagerAsksCertManagerForTheCertificate() async throws {
        let resources = WebhookHarness.resources + [
            TestResource(WebhookRenderer.certManagerIssuer), TestResource(WebhookRenderer.certManagerCertificate),
        ]
        try await KubeTestServer.withServer(resources: resources) { server in
            try await KubernetesClient.withClient(configuration: server.clientConfiguration()) { client in
                let configuration = ManagerConfiguration(
                    operatorNamespace: operatorNamespace, daemonSet: DaemonSetSettings(image: "img"),
                    webhook: WebhookSettings(image: "img", certificateSource: .certManager))
                let manager = OperatorManager(client: client, configuration: configuration, reflector: WebhookHarness.reflector)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try? await manager.run() }
                    defer { group.cancelAll() }
                    #expect(await eventually { server.object(WebhookRenderer.certManagerCertificate, namespace: operatorNamespace, name: "webhook-cert") != nil })
                    let certificate = try #require(server.object(WebhookRenderer.certManagerCertificate, namespace: operatorNamespace, name: "webhook-cert"))
                    #expect(certificate[path: ["spec", "secretName"]] == "webhook-server-cert")
                    #expect(certificate[path: ["spec", "dnsNames"]]?.arrayValue?.compactMap(\.stringValue) == ["webhook-service.\(operatorNamespace).svc", "webhook-service.\(operatorNamespace).svc.cluster.local"])
                    #expect(server.object(WebhookRenderer.certManagerIssuer, namespace: operatorNamespace, name: "selfsigned-issuer")?[path: ["spec", "selfSigned"]] == [:])
                    #expect(await eventually { server.object(MutatingWebhookConfiguration.self, name: WebhookRenderer.configurationName) != nil })
                    let webhooks = try #require(server.object(MutatingWebhookConfiguration.self, name: WebhookRenderer.configurationName))
                    #expect(webhooks.metadata.annotations?["cert-manager.io/inject-ca-from"] == "\(operatorNamespace)/webhook-cert")
                    #expect(webhooks.webhooks?.allSatisfy { $0.clientConfig.caBundle == nil } == true)
                    #expect(server.object(Secret.self, namespace: operatorNamespace, name: "spo-webhook-ca") == nil)
                    // The injector fills the bundle; the manager leaves it there.
                    _ = try server.modify(MutatingWebhookConfiguration.self, name: WebhookRenderer.configurationName) { object in
                        for index in object.webhooks!.indices { object.webhooks![index].clientConfig.caBundle = "SU5KRUNURUQ=" }
                    }
                    _ = try await client.resource(SecurityProfilesOperatorDaemon.self).patch("spod", namespace: operatorNamespace, patch: .merge([
                        "spec": ["webhookOptions": [["name": "recording.spo.io", "failurePolicy": "Ignore"]]],
                    ]))
                    #expect(await eventually { server.object(MutatingWebhookConfiguration.self, name: WebhookRenderer.configurationName)?.webhooks?.last?.failurePolicy == "Ignore" })
                    #expect(server.object(MutatingWebhookConfiguration.self, name: WebhookRenderer.configurationName)?.webhooks?.allSatisfy { $0.clientConfig.caBundle == "SU5KRUNURUQ=" } == true)
                }
            }
        }
    }
}
