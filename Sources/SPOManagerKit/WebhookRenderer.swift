import Foundation
import KubeModels
import SPOAPI

/// How the webhook's serving certificate comes about.
public enum WebhookCertificateSource: String, Sendable, Hashable, CaseIterable {
    /// The manager keeps a CA and the serving certificate in Secrets and injects the CA into
    /// the webhook configuration's `caBundle` (no cert-manager needed).
    case selfManaged = "self-managed"
    /// cert-manager issues `webhook-server-cert` (Issuer `selfsigned-issuer`, Certificate
    /// `webhook-cert`) and its CA injector fills the `caBundle`, as upstream.
    case certManager = "cert-manager"
}

/// What the manager knows when it renders the webhook's objects.
public struct WebhookSettings: Sendable, Hashable {
    public var image: String
    public var imagePullPolicy: String
    public var certificateSource: WebhookCertificateSource

    public init(image: String, imagePullPolicy: String = "IfNotPresent", certificateSource: WebhookCertificateSource = .selfManaged) {
        self.image = image
        self.imagePullPolicy = imagePullPolicy
        self.certificateSource = certificateSource
    }
}

/// Renders the admission webhook's objects from a spod (reference §4.4): the
/// MutatingWebhookConfiguration `spo-mutating-webhook-configuration` with `binding.spo.io` and
/// `recording.spo.io` and the spod's `webhookOptions` applied, the Deployment
/// `security-profiles-operator-webhook` and the Service `webhook-service`. Pure.
///
/// Every field the API server would default is rendered, so that the live configuration equals
/// the rendered one exactly and any difference (a changed selector of any key, upstream's
/// change-detection quirk) is an update.
public enum WebhookRenderer {
    public static let configurationName = "spo-mutating-webhook-configuration"
    public static let deploymentName = "security-profiles-operator-webhook"
    public static let serviceName = "webhook-service"
    public static let serviceAccountName = "spo-webhook"
    public static let certificateSecretName = "webhook-server-cert"
    public static let certificateDirectory = "/tmp/k8s-webhook-server/serving-certs"
    public static let bindingWebhook = "binding.spo.io"
    public static let recordingWebhook = "recording.spo.io"
    public static let bindingPath = "/mutate-v1-pod-binding"
    public static let recordingPath = "/mutate-v1-pod-recording"
    public static let port = 9443
    public static let healthPort = 8082
    public static let podLabels = ["app": SPOMetadata.appLabelValue, "name": deploymentName]
    /// Pods the webhooks never see: the operator's own.
    static let excludedPods = ["security-profiles-operator", deploymentName]

    /// The built-in webhooks with their defaults.
    public static func defaultWebhooks(namespace: String, caBundle: String?) -> [MutatingWebhook] {
        func webhook(_ name: String, path: String, namespaceLabel: String) -> MutatingWebhook {
            MutatingWebhook(
                name: name,
                clientConfig: WebhookClientConfig(service: .init(namespace: namespace, name: serviceName, path: path), caBundle: caBundle),
                rules: [RuleWithOperations(operations: ["CREATE", "UPDATE", "DELETE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"])],
                failurePolicy: FailurePolicy.fail.rawValue,
                namespaceSelector: LabelSelector(matchExpressions: [LabelSelectorRequirement(key: namespaceLabel, operator: "Exists")]),
                objectSelector: LabelSelector(matchExpressions: [LabelSelectorRequirement(key: "name", operator: "NotIn", values: excludedPods)]),
                admissionReviewVersions: AdmissionReview.versions)
        }
        return [
            webhook(bindingWebhook, path: bindingPath, namespaceLabel: SPOMetadata.enableBindingLabel),
            webhook(recordingWebhook, path: recordingPath, namespaceLabel: SPOMetadata.enableRecordingLabel),
        ]
    }

    /// `webhookOptions` applied to the defaults: for each webhook, every option of its name in
    /// list order, each set field replacing the webhook's; options of other names are ignored,
    /// and an empty list leaves the defaults.
    public static func applying(_ options: [SecurityProfilesOperatorDaemon.WebhookOptions]?, to webhooks: [MutatingWebhook]) -> [MutatingWebhook] {
        webhooks.map { webhook in
            var webhook = webhook
            for option in options ?? [] where option.name == webhook.name {
                if let policy = option.failurePolicy { webhook.failurePolicy = policy.rawValue }
                if let selector = option.namespaceSelector { webhook.namespaceSelector = selector }
                if let selector = option.objectSelector { webhook.objectSelector = selector }
            }
            return webhook
        }
    }

    /// The configuration for `spod`; `caBundle` is the base64 PEM bundle of the self-managed CA.
    public static func configuration(_ spod: SecurityProfilesOperatorDaemon, settings: WebhookSettings, caBundle: String?) -> MutatingWebhookConfiguration {
        let namespace = spod.metadata.namespace ?? ""
        var metadata = ObjectMeta(name: configurationName, labels: [SPOMetadata.appLabel: SPOMetadata.appLabelValue])
        if settings.certificateSource == .certManager {
            metadata.annotations = ["cert-manager.io/inject-ca-from": "\(namespace)/webhook-cert"]
        }
        let webhooks = applying(spod.spec?.webhookOptions, to: defaultWebhooks(namespace: namespace, caBundle: settings.certificateSource == .selfManaged ? caBundle : nil))
        return MutatingWebhookConfiguration(metadata: metadata, webhooks: webhooks)
    }

    /// Whether the live configuration says what was rendered: the webhooks equal in every
    /// field (the cert-manager injector's `caBundle` excepted) and the rendered annotations set.
    public static func matches(_ desired: MutatingWebhookConfiguration, _ live: MutatingWebhookConfiguration, settings: WebhookSettings) -> Bool {
        guard (desired.metadata.annotations ?? [:]).allSatisfy({ live.metadata.annotations?[$0.key] == $0.value }) else { return false }
        var liveWebhooks = live.webhooks ?? []
        if settings.certificateSource == .certManager {
            for index in liveWebhooks.indices { liveWebhooks[index].clientConfig.caBundle = nil }
        }
        return liveWebhooks == desired.webhooks
    }

    /// The webhook Deployment: three replicas of the operator image's `webhook` role.
    public static func deployment(_ spod: SecurityProfilesOperatorDaemon, settings: WebhookSettings) throws -> Deployment {
        let spec = spod.spec ?? .init()
        let namespace = spod.metadata.namespace ?? ""
        var metadata = ObjectMeta(name: deploymentName, namespace: namespace, labels: podLabels)
        metadata.ownerReferences = [ownerReference(spod)]
        let container = Container(
            name: "security-profiles-operator", image: settings.image, imagePullPolicy: settings.imagePullPolicy,
            args: ["webhook"],
            env: [.field("OPERATOR_NAMESPACE", "metadata.namespace"), .literal("SPO_VERBOSITY", String(spec.verbosity ?? 0))],
            ports: [ContainerPort(name: "webhook", containerPort: port), ContainerPort(name: "health", containerPort: healthPort)],
            volumeMounts: [VolumeMount(name: "cert", mountPath: certificateDirectory, readOnly: true)],
            resources: ResourceRequirements(limits: ["memory": "64Mi"], requests: ["memory": "32Mi", "cpu": "250m"]),
            securityContext: SecurityContext(
                allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: .init(drop: ["ALL"])),
            livenessProbe: Probe(httpGet: .init(path: "/healthz", port: "health"), failureThreshold: 3, periodSeconds: 10, timeoutSeconds: 1),
            readinessProbe: Probe(httpGet: .init(path: "/readyz", port: "health"), failureThreshold: 3, periodSeconds: 5, timeoutSeconds: 1))
        let tolerations = (spec.tolerations?.isEmpty == false) ? spec.tolerations : SecurityProfilesOperatorDaemon.defaultTolerations
        let pod = PodSpec(
            serviceAccountName: serviceAccountName,
            securityContext: PodSecurityContext(seccompProfile: SeccompProfileReference(type: "RuntimeDefault")),
            tolerations: tolerations,
            imagePullSecrets: (spec.imagePullSecrets?.isEmpty == false) ? spec.imagePullSecrets : nil,
            containers: [container],
            // The Secret is required: the pod waits for its certificate instead of serving one the
            // API server cannot verify.
            volumes: [Volume(name: "cert", secret: .init(secretName: certificateSecretName, optional: false))])
        var podSpec = try JSONValue(encoding: pod)
        // Rendered as null when unset so that an update removes what an earlier spod set.
        if podSpec["imagePullSecrets"] == nil { podSpec["imagePullSecrets"] = JSONValue.null }
        let labels = try JSONValue(encoding: podLabels)
        return Deployment(metadata: metadata, spec: [
            "replicas": 3,
            "selector": ["matchLabels": labels],
            "template": ["metadata": ["labels": labels], "spec": podSpec],
        ])
    }

    /// The Service in front of the webhook pods: 443 → 9443.
    public static func service(_ spod: SecurityProfilesOperatorDaemon) -> KubeService {
        var metadata = ObjectMeta(name: serviceName, namespace: spod.metadata.namespace, labels: [SPOMetadata.appLabel: SPOMetadata.appLabelValue])
        metadata.ownerReferences = [ownerReference(spod)]
        let selector = (try? JSONValue(encoding: podLabels)) ?? [:]
        return KubeService(metadata: metadata, spec: [
            "selector": selector,
            "ports": [["name": "webhook", "port": 443, "targetPort": .int(Int64(port)), "protocol": "TCP"]],
        ])
    }

    /// cert-manager's objects for the serving certificate (reference §4.2 item 1): a
    /// self-signed Issuer and a Certificate that writes `webhook-server-cert`.
    public static let certManagerIssuer = GroupVersionResource(group: "cert-manager.io", version: "v1", resource: "issuers", kind: "Issuer", namespaced: true)
    public static let certManagerCertificate = GroupVersionResource(group: "cert-manager.io", version: "v1", resource: "certificates", kind: "Certificate", namespaced: true)

    public static func certManagerObjects(namespace: String) -> [(resource: GroupVersionResource, object: JSONValue)] {
        let labels: JSONValue = [SPOMetadata.appLabel: .string(SPOMetadata.appLabelValue)]
        return [
            (certManagerIssuer, [
                "apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                "metadata": ["name": "selfsigned-issuer", "namespace": .string(namespace), "labels": labels],
                "spec": ["selfSigned": [:]],
            ]),
            (certManagerCertificate, [
                "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                "metadata": ["name": "webhook-cert", "namespace": .string(namespace), "labels": labels],
                "spec": [
                    "dnsNames": .array(hostnames(namespace: namespace).map { .string($0) }),
                    "issuerRef": ["kind": "Issuer", "name": "selfsigned-issuer"],
                    "secretName": .string(certificateSecretName),
                    "subject": ["organizations": [.string(SPOMetadata.appLabelValue)]],
                ],
            ]),
        ]
    }

    /// The DNS names the serving certificate must carry.
    public static func hostnames(namespace: String) -> [String] {
        ["\(serviceName).\(namespace).svc", "\(serviceName).\(namespace).svc.cluster.local"]
    }

    static func ownerReference(_ spod: SecurityProfilesOperatorDaemon) -> OwnerReference {
        OwnerReference(
            apiVersion: SecurityProfilesOperatorDaemon.apiVersion, kind: SecurityProfilesOperatorDaemon.kind,
            name: spod.metadata.name ?? "", uid: spod.metadata.uid ?? "", controller: true, blockOwnerDeletion: true)
    }
}
