import KubeModels
import SPOAPI
import SPOManagerKit
import Testing

/// `webhookOptions` (reference §4.4, checklist 23-25) and the rendered configuration.
@Suite struct WebhookOptionsTests {
    typealias Option = SecurityProfilesOperatorDaemon.WebhookOptions
    let defaults = WebhookRenderer.defaultWebhooks(namespace: "spo", caBundle: "Q0E=")

    func webhook(_ webhooks: [MutatingWebhook], _ name: String) -> MutatingWebhook? { webhooks.first { $0.name == name } }

    @Test func theDefaultsAreUpstreams() throws {
        #expect(defaults.map(\.name) == ["binding.spo.io", "recording.spo.io"])
        let binding = try #require(webhook(defaults, "binding.spo.io"))
        #expect(binding.failurePolicy == "Fail" && binding.sideEffects == "None")
        #expect(binding.clientConfig.service == .init(namespace: "spo", name: "webhook-service", path: "/mutate-v1-pod-binding"))
        #expect(binding.clientConfig.caBundle == "Q0E=")
        #expect(binding.namespaceSelector == LabelSelector(matchExpressions: [.init(key: "spo.x-k8s.io/enable-binding", operator: "Exists")]))
        #expect(binding.objectSelector == LabelSelector(matchExpressions: [.init(key: "name", operator: "NotIn", values: ["security-profiles-operator", "security-profiles-operator-webhook"])]))
        #expect(binding.rules == [RuleWithOperations(operations: ["CREATE", "UPDATE", "DELETE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"])])
        let recording = try #require(webhook(defaults, "recording.spo.io"))
        #expect(recording.clientConfig.service?.path == "/mutate-v1-pod-recording")
        #expect(recording.namespaceSelector?.matchExpressions?.first?.key == "spo.x-k8s.io/enable-recording")
    }

    /// Checklist 24: every given field replaces the binding webhook's; recording keeps its defaults.
    @Test func anOptionReplacesTheFieldsItSets() throws {
        let option = Option(
            name: "binding.spo.io", failurePolicy: .ignore,
            namespaceSelector: LabelSelector(matchExpressions: [.init(key: "prod", operator: "In", values: ["true"])]),
            objectSelector: LabelSelector(matchExpressions: [.init(key: "record-pod", operator: "In", values: ["true"])]))
        let applied = WebhookRenderer.applying([option], to: defaults)
        let binding = try #require(webhook(applied, "binding.spo.io"))
        #expect(binding.failurePolicy == "Ignore")
        #expect(binding.namespaceSelector == option.namespaceSelector && binding.objectSelector == option.objectSelector)
        #expect(webhook(applied, "recording.spo.io") == webhook(defaults, "recording.spo.io"))
    }

    @Test func onlySetFieldsReplaceInListOrderAndUnknownNamesAreIgnored() throws {
        let first = Option(name: "recording.spo.io", failurePolicy: .ignore, namespaceSelector: LabelSelector(matchLabels: ["a": "1"]))
        let second = Option(name: "recording.spo.io", namespaceSelector: LabelSelector(matchLabels: ["b": "2"]))
        let unknown = Option(name: "nonsense.spo.io", failurePolicy: .ignore)
        let applied = WebhookRenderer.applying([first, unknown, second], to: defaults)
        let recording = try #require(webhook(applied, "recording.spo.io"))
        #expect(recording.failurePolicy == "Ignore", "the second option leaves the first's failurePolicy")
        #expect(recording.namespaceSelector == LabelSelector(matchLabels: ["b": "2"]), "the later option wins")
        #expect(recording.objectSelector == webhook(defaults, "recording.spo.io")?.objectSelector)
        #expect(webhook(applied, "binding.spo.io") == webhook(defaults, "binding.spo.io"))
        #expect(applied.count == 2)
    }

    /// Checklist 25: an empty list (or none) is the defaults.
    @Test func noOptionsAreTheDefaults() {
        #expect(WebhookRenderer.applying([], to: defaults) == defaults)
        #expect(WebhookRenderer.applying(nil, to: defaults) == defaults)
    }

    /// Upstream compared only the selector expressions on its own keys; any difference counts here.
    @Test func anyDifferenceIsAChange() {
        var spod = SecurityProfilesOperatorDaemon(metadata: ObjectMeta(name: "spod", namespace: "spo"), spec: .init())
        let settings = WebhookSettings(image: "img")
        let live = WebhookRenderer.configuration(spod, settings: settings, caBundle: "Q0E=")
        #expect(WebhookRenderer.matches(live, live, settings: settings))
        spod.spec?.webhookOptions = [Option(name: "binding.spo.io", namespaceSelector: LabelSelector(matchLabels: ["team": "a"]))]
        let first = WebhookRenderer.configuration(spod, settings: settings, caBundle: "Q0E=")
        spod.spec?.webhookOptions = [Option(name: "binding.spo.io", namespaceSelector: LabelSelector(matchLabels: ["team": "b"]))]
        let second = WebhookRenderer.configuration(spod, settings: settings, caBundle: "Q0E=")
        #expect(!WebhookRenderer.matches(second, first, settings: settings), "two custom selectors on other keys")
        #expect(!WebhookRenderer.matches(WebhookRenderer.configuration(spod, settings: settings, caBundle: "TkVX"), second, settings: settings), "a new CA bundle")
        // With cert-manager the injector's bundle is not the manager's to compare.
        let certManager = WebhookSettings(image: "img", certificateSource: .certManager)
        var injected = WebhookRenderer.configuration(spod, settings: certManager, caBundle: nil)
        #expect(injected.metadata.annotations?["cert-manager.io/inject-ca-from"] == "spo/webhook-cert")
        let rendered = injected
        for index in injected.webhooks!.indices { injected.webhooks![index].clientConfig.caBundle = "SU5KRUNURUQ=" }
        #expect(WebhookRenderer.matches(rendered, injected, settings: certManager))
    }

    @Test func theDeploymentAndServiceFollowTheSpod() throws {
        var spod = SecurityProfilesOperatorDaemon(metadata: ObjectMeta(name: "spod", namespace: "spo"), spec: .init())
        spod.metadata.uid = "u1"
        let deployment = try WebhookRenderer.deployment(spod, settings: WebhookSettings(image: "registry/spo:1"))
        let pod = try #require(deployment.spec?[path: ["template", "spec"]])
        #expect(deployment.spec?["replicas"] == 3)
        #expect(pod["serviceAccountName"] == "spo-webhook")
        #expect(pod[path: ["containers"]]?.arrayValue?.first?["args"] == ["webhook"])
        #expect(pod[path: ["containers"]]?.arrayValue?.first?["image"] == "registry/spo:1")
        #expect(pod["volumes"]?.arrayValue?.first?[path: ["secret", "secretName"]] == "webhook-server-cert")
        #expect(pod["tolerations"]?.arrayValue?.count == SecurityProfilesOperatorDaemon.defaultTolerations.count)
        #expect(deployment.metadata.ownerReferences?.first?.uid == "u1")
        spod.spec?.tolerations = [Toleration(key: "dedicated", operator: "Exists")]
        spod.spec?.imagePullSecrets = [LocalObjectReference(name: "pull")]
        let tuned = try WebhookRenderer.deployment(spod, settings: WebhookSettings(image: "registry/spo:1"))
        #expect(tuned.spec?[path: ["template", "spec", "tolerations"]] == [["key": "dedicated", "operator": "Exists"]])
        #expect(tuned.spec?[path: ["template", "spec", "imagePullSecrets"]] == [["name": "pull"]])
        let service = WebhookRenderer.service(spod)
        #expect(service.spec?["ports"] == [["name": "webhook", "port": 443, "targetPort": 9443, "protocol": "TCP"]])
        #expect(WebhookRenderer.hostnames(namespace: "spo") == ["webhook-service.spo.svc", "webhook-service.spo.svc.cluster.local"])
    }
}
