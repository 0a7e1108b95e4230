import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import SPOAPI
import SPOManagerKit
import SPOWebhook
import Testing

/// Pods created through the test API server, which calls the real webhook over TLS verified
/// against the CA the manager injected — what `kubectl apply` of a pod does in a cluster.
@Suite struct AdmissionTests {
    static let image = "quay.io/security-profiles-operator/test-hello-world:latest"

    /// Checklist 63-64, 68: a labelled namespace's pod comes back mutated; an unlabelled one's does not.
    @Test func aBindingMutatesPodsOfLabelledNamespacesOnly() async throws {
        try await WebhookHarness.run { harness in
            try harness.namespace("bound", labels: [SPOMetadata.enableBindingLabel: ""])
            try harness.namespace("plain", labels: [:])
            for namespace in ["bound", "plain"] {
                try harness.installedSeccompProfile(namespace, "profile-allow-unsafe")
                try await harness.binding(namespace, "hello-binding", profile: "profile-allow-unsafe", image: Self.image)
            }
            let bound = try await harness.create(harness.pod("bound", "hello", image: Self.image))
            #expect(WebhookHarness.seccompProfile(of: bound) == ["type": "Localhost", "localhostProfile": "operator/bound/profile-allow-unsafe.json"])
            let plain = try await harness.create(harness.pod("plain", "hello", image: Self.image))
            #expect(WebhookHarness.seccompProfile(of: plain) == nil)
            // Another image in the labelled namespace is admitted unchanged.
            let other = try await harness.create(harness.pod("bound", "other", image: "nginx"))
            #expect(WebhookHarness.seccompProfile(of: other) == nil)
            #expect(harness.server.admissionCalls.contains { $0.webhook == "binding.spo.io" && $0.outcome == "patched" })
            #expect(harness.server.admissionCalls.contains { $0.webhook == "binding.spo.io" && $0.outcome == "unchanged" })
        }
    }

    /// Beyond upstream: a missing profile rejects only the pods of the bound image, with a
    /// message that names the binding and the profile.
    @Test func aMissingProfileRejectsOnlyMatchingPods() async throws {
        try await WebhookHarness.run { harness in
            try harness.namespace("apps", labels: [SPOMetadata.enableBindingLabel: "true"])
            try await harness.binding("apps", "dangling", profile: "absent", image: Self.image)
            do {
                _ = try await harness.create(harness.pod("apps", "hello", image: Self.image))
                Issue.record("admitted")
            } catch let error as KubeAPIError {
                #expect(error.code == 403)
                #expect(error.message == "admission webhook \"binding.spo.io\" denied the request: ProfileBinding apps/dangling binds image \"\(Self.image)\" to SeccompProfile absent, which does not exist in namespace apps: create it or delete the binding", "\(error)")
            }
            _ = try await harness.create(harness.pod("apps", "unrelated", image: "nginx"))
            // Once the profile exists (created moments ago, so maybe not cached yet) the pod is admitted.
            try harness.installedSeccompProfile("apps", "absent")
            let admitted = try await harness.create(harness.pod("apps", "hello", image: Self.image))
            #expect(WebhookHarness.seccompProfile(of: admitted)?["localhostProfile"] == "operator/apps/absent.json")
        }
    }

    /// Checklist 74-75 and the tracker: the recording annotates the pod and lists it while it exists.
    @Test func aRecordingAnnotatesPodsAndTracksThem() async throws {
        try await WebhookHarness.run { harness in
            try harness.namespace("rec", labels: [SPOMetadata.enableRecordingLabel: ""])
            _ = try await harness.client.resource(ProfileRecording.self).create(ProfileRecording(
                metadata: ObjectMeta(name: "test-recording", namespace: "rec"),
                spec: .init(kind: .seccompProfile, recorder: .logs, podSelector: LabelSelector(matchLabels: ["app": "alpine"]))))
            try #require(await eventually { harness.cache.recordings.store.get(name: "test-recording", namespace: "rec") != nil })
            let first = try await harness.create(harness.pod("rec", "recording", image: "nginx", labels: ["app": "alpine"]))
            let value = try #require(first.metadata.annotations?["io.containers.trace-logs/app"])
            #expect(value.hasPrefix("test-recording_app_") && value.split(separator: "_").count == 4)
            #expect(WebhookHarness.seccompProfile(of: first) == ["type": "Localhost", "localhostProfile": "operator/security-profiles-operator/log-enricher-trace.json"])
            // A replica of a Deployment: its final name, not its generateName.
            let second = try await harness.create(harness.pod("rec", "web-", image: "nginx", labels: ["app": "alpine"], generateName: true))
            let secondName = try #require(second.metadata.name)
            func recording() -> ProfileRecording? { harness.server.object(ProfileRecording.self, namespace: "rec", name: "test-recording") }
            #expect(await eventually { recording()?.status?.activeWorkloads == ["recording", secondName].sorted() })
            #expect(recording()?.metadata.finalizers == [SPOMetadata.recordingLockFinalizer])
            // Deleting one of the two keeps the finalizer (upstream dropped it).
            try await harness.client.resource(Pod.self).delete("recording", namespace: "rec")
            #expect(await eventually { recording()?.status?.activeWorkloads == [secondName] })
            #expect(recording()?.metadata.finalizers == [SPOMetadata.recordingLockFinalizer])
            try await harness.client.resource(Pod.self).delete(secondName, namespace: "rec")
            #expect(await eventually { recording()?.status?.activeWorkloads == nil && recording()?.metadata.finalizers == nil })
        }
    }

    /// The trackers decide from the pods that exist: created through the webhook, deleted, and
    /// created before the binding existed (never mutated, so never listed); a dry run changes nothing.
    @Test func bindingWorkloadsFollowThePodsThatExist() async throws {
        try await WebhookHarness.run { harness in
            try harness.namespace("apps", labels: [SPOMetadata.enableBindingLabel: ""])
            try harness.installedSeccompProfile("apps", "p")
            _ = try await harness.create(harness.pod("apps", "before", image: Self.image))
            try await harness.binding("apps", "b", profile: "p", image: Self.image)
            _ = try await harness.create(harness.pod("apps", "after", image: Self.image))
            let replica = try await harness.create(harness.pod("apps", "replica-", image: Self.image, generateName: true))
            let replicaName = try #require(replica.metadata.name)
            func binding() -> ProfileBinding? { harness.server.object(ProfileBinding.self, namespace: "apps", name: "b") }
            #expect(await eventually { binding()?.status?.activeWorkloads == ["apps/after", "apps/\(replicaName)"].sorted() })
            #expect(binding()?.metadata.finalizers == [SPOMetadata.activeWorkloadFinalizer])

            let dry = try await harness.create(harness.pod("apps", "dry", image: Self.image), dryRun: true)
            #expect(WebhookHarness.seccompProfile(of: dry) != nil, "a dry run is admitted and mutated like a real one")
            #expect(harness.server.object(Pod.self, namespace: "apps", name: "dry") == nil)
            try await Task.sleep(for: .milliseconds(300))
            #expect(binding()?.status?.activeWorkloads == ["apps/after", "apps/\(replicaName)"].sorted())

            for name in ["after", replicaName] { try await harness.client.resource(Pod.self).delete(name, namespace: "apps") }
            #expect(await eventually { binding()?.status?.activeWorkloads == nil && binding()?.metadata.finalizers == nil })
        }
    }

    /// `failurePolicy`: with the webhook unreachable, `Fail` rejects pods with the call's error
    /// and `Ignore` (through webhookOptions) lets them through unchanged.
    @Test func theFailurePolicyDecidesWhileTheWebhookIsDown() async throws {
        try await WebhookHarness.run { harness in
            try harness.namespace("apps", labels: [SPOMetadata.enableBindingLabel: ""])
            try harness.installedSeccompProfile("apps", "p")
            try await harness.binding("apps", "b", profile: "p", image: Self.image)
            // The Service has no endpoint any more.
            harness.server.routeService(namespace: operatorNamespace, name: WebhookRenderer.serviceName, toPort: nil)
            do {
                _ = try await harness.create(harness.pod("apps", "refused", image: Self.image))
                Issue.record("admitted while the webhook was down")
            } catch let error as KubeAPIError {
                #expect(error.code == 500)
                #expect(error.message.hasPrefix("Internal error occurred: failed calling webhook \"binding.spo.io\": failed to call webhook: "), "\(error)")
            }
            _ = try await harness.client.resource(SecurityProfilesOperatorDaemon.self).patch("spod", namespace: operatorNamespace, patch: .merge([
                "spec": ["webhookOptions": [["name": "binding.spo.io", "failurePolicy": "Ignore"]]],
            ]))
            #expect(await eventually { harness.configuration?.webhooks?.first?.failurePolicy == "Ignore" })
            let admitted = try await harness.create(harness.pod("apps", "through", image: Self.image))
            #expect(WebhookHarness.seccompProfile(of: admitted) == nil)
            #expect(harness.server.admissionCalls.contains { $0.outcome.hasPrefix("ignored: ") })
        }
    }

    /// A TLS client that does not trust the injected CA cannot be the webhook's peer: the
    /// configuration's caBundle is what makes the call succeed.
    @Test func theCallIsVerifiedAgainstTheInjectedCA() async throws {
        try await WebhookHarness.run { harness in
            try harness.namespace("apps", labels: [SPOMetadata.enableBindingLabel: ""])
            try harness.installedSeccompProfile("apps", "p")
            try await harness.binding("apps", "b", profile: "p", image: Self.image)
            _ = try harness.server.modify(MutatingWebhookConfiguration.self, name: WebhookRenderer.configurationName) { configuration in
                for index in configuration.webhooks!.indices { configuration.webhooks![index].clientConfig.caBundle = Data(TestCertificates.unrelatedCA.utf8).base64EncodedString() }
            }
            await #expect(throws: KubeAPIError.self) { try await harness.create(harness.pod("apps", "untrusted", image: Self.image)) }
            // The manager puts its CA back (any difference in the rendered configuration is applied).
            #expect(await eventually { harness.configuration?.webhooks?.first?.clientConfig.caBundle != Data(TestCertificates.unrelatedCA.utf8).base64EncodedString() })
            let admitted = try await harness.create(harness.pod("apps", "trusted", image: Self.image))
            #expect(WebhookHarness.seccompProfile(of: admitted) != nil)
        }
    }
}

enum TestCertificates {
    /// A CA that signed nothing the webhook presents.
    static let unrelatedCA: String = {
        (try? TestTLS.generate().certificatePEM) ?? ""
    }()
}
