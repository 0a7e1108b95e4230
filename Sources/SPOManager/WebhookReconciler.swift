import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import SPOManagerKit

/// Keeps the admission webhook's objects in step with the spod (reference §4.4): the
/// certificates (self-managed: a CA and the serving certificate in Secrets, renewed well before
/// they expire without a failed admission), the MutatingWebhookConfiguration with the CA in its
/// `caBundle` and the spod's `webhookOptions`, the webhook Deployment and its Service. With
/// `staticWebhookConfig` nothing is created or changed. Keys are spod keys.
public struct WebhookReconciler: Reconciler {
    let configuration: ManagerConfiguration
    let spods: Store<SecurityProfilesOperatorDaemon>
    let deployments: Store<Deployment>
    let services: Store<KubeService>
    let webhookConfigurations: Store<MutatingWebhookConfiguration>
    let secrets: Store<Secret>
    let client: KubernetesClient
    let events: EventRecorder
    let clock: @Sendable () -> Date

    public init(
        configuration: ManagerConfiguration, spods: Store<SecurityProfilesOperatorDaemon>, deployments: Store<Deployment>,
        services: Store<KubeService>, webhookConfigurations: Store<MutatingWebhookConfiguration>, secrets: Store<Secret>,
        client: KubernetesClient, events: EventRecorder, clock: @escaping @Sendable () -> Date = Date.init
    ) {
        self.configuration = configuration
        self.spods = spods
        self.deployments = deployments
        self.services = services
        self.webhookConfigurations = webhookConfigurations
        self.secrets = secrets
        self.client = client
        self.events = events
        self.clock = clock
    }

    public func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult {
        guard key.namespace == configuration.operatorNamespace, let spod = spods.get(key), spod.metadata.deletionTimestamp == nil,
              spod.spec?.staticWebhookConfig != true, let settings = configuration.webhook
        else { return .done }
        var recheck: Date?
        do {
            // Certificates are decided on fresh reads, not on caches that may not show this
            // manager's last write yet: a rotation decided twice would drop a CA still in use.
            let live = try await current(MutatingWebhookConfiguration.self, WebhookRenderer.configurationName, namespace: nil)
            var caSecret: Secret?
            switch settings.certificateSource {
            case .selfManaged: (caSecret, recheck) = try await ensureCertificates(configuration: live, logger: logger)
            case .certManager: try await ensureCertManagerObjects(logger: logger)
            }
            try await ensureConfiguration(
                WebhookRenderer.configuration(spod, settings: settings, caBundle: WebhookCertificates.caBundle(caSecret)), live: live,
                settings: settings, logger: logger)
            try await ensureService(WebhookRenderer.service(spod), logger: logger)
            try await ensureDeployment(try WebhookRenderer.deployment(spod, settings: settings), logger: logger)
        } catch let error as KubeAPIError where error.isConflict || error.isAlreadyExists {
            return .requeue
        } catch let error as WebhookCertificates.Unreadable {
            await events.record(spod, type: .warning, reason: "CannotUpdateSPOD", message: error.description)
            throw TerminalError(error)
        } catch {
            await events.record(spod, type: .warning, reason: "CannotUpdateSPOD", message: "webhook: \(error)")
            throw error
        }
        guard let recheck else { return .done }
        let delay = max(0.05, recheck.timeIntervalSince(clock()))
        return .requeueAfter(.milliseconds(Int64(min(delay, 86400) * 1000)))
    }

    // MARK: Certificates

    /// The object as the API server has it now; nil when there is none.
    private func current<R: KubeResource>(_ type: R.Type, _ name: String, namespace: String?) async throws -> R? {
        do {
            return try await client.resource(R.self).get(name, namespace: namespace)
        } catch let error as KubeAPIError where error.isNotFound {
            return nil
        }
    }

    /// Runs the plan's due steps; returns the CA Secret as it now is and when to look again.
    private func ensureCertificates(configuration live: MutatingWebhookConfiguration?, logger: Logger) async throws -> (Secret?, Date?) {
        let namespace = configuration.operatorNamespace
        let plan = WebhookCertificatePlan(policy: configuration.webhookCertificatePolicy)
        let hostnames = WebhookRenderer.hostnames(namespace: namespace)
        let caSecret = try await current(Secret.self, WebhookCertificates.caSecretName, namespace: namespace)
        let serving = try await current(Secret.self, WebhookRenderer.certificateSecretName, namespace: namespace)
        let facts = try WebhookCertificates.facts(caSecret: caSecret, servingSecret: serving, configuration: live)
        let now = clock()
        let (steps, recheck) = plan.steps(facts, now: now, hostnames: hostnames)
        var ca = caSecret
        for step in steps {
            switch step {
            case .createCA, .rotateCA:
                let minted = try WebhookCertificates.makeCA(now: now, lifetime: plan.policy.caLifetime)
                let previous = step == .rotateCA ? ca?.text(WebhookCertificates.caCertificateKey) : nil
                ca = try await write(WebhookCertificates.caSecretName, existing: ca) { secret in
                    secret.type = "Opaque"
                    secret.setText(WebhookCertificates.caCertificateKey, minted.certificate)
                    secret.setText(WebhookCertificates.caPrivateKeyKey, minted.key)
                    secret.setText(WebhookCertificates.previousCAKey, previous)
                    secret.metadata.annotations = (secret.metadata.annotations ?? [:]).merging(
                        [WebhookCertificates.rotatedAtAnnotation: KubeTime.format(now)]) { $1 }
                }
                logger.info("webhook.certificates.ca_created", metadata: ["rotation": "\(step == .rotateCA)"])
            case .issueServing:
                guard let caPEM = ca?.text(WebhookCertificates.caCertificateKey), let caKey = ca?.text(WebhookCertificates.caPrivateKeyKey) else { continue }
                let minted = try WebhookCertificates.issueServing(
                    caCertificate: caPEM, caKey: caKey, hostnames: hostnames, now: now, lifetime: plan.policy.servingLifetime)
                _ = try await write(WebhookRenderer.certificateSecretName, existing: serving) { secret in
                    secret.type = "kubernetes.io/tls"
                    secret.setText("tls.crt", minted.certificate)
                    secret.setText("tls.key", minted.key)
                    secret.setText("ca.crt", caPEM)
                    secret.metadata.annotations = (secret.metadata.annotations ?? [:]).merging(
                        [WebhookCertificates.issuedAtAnnotation: KubeTime.format(now)]) { $1 }
                }
                logger.info("webhook.certificates.serving_issued")
            case .dropPreviousCA:
                ca = try await write(WebhookCertificates.caSecretName, existing: ca) { secret in
                    secret.setText(WebhookCertificates.previousCAKey, nil)
                }
                logger.info("webhook.certificates.previous_ca_dropped")
            }
        }
        // After a change, plan again soon from fresh reads: the recheck computed before it did
        // not know the new certificates' renewal times.
        let soon = now.addingTimeInterval(plan.policy.settle)
        return (ca, steps.isEmpty ? recheck : min(recheck ?? soon, soon))
    }

    /// Creates or updates one of the operator's Secrets, read moments ago: a conflict means
    /// someone else wrote it, and the reconcile starts over from fresh reads.
    private func write(_ name: String, existing: Secret?, change: (inout Secret) -> Void) async throws -> Secret {
        let namespace = configuration.operatorNamespace
        let resource = client.resource(Secret.self)
        if var existing {
            change(&existing)
            existing.metadata.labels = (existing.metadata.labels ?? [:]).merging([SPOMetadata.appLabel: SPOMetadata.appLabelValue]) { $1 }
            return try await resource.update(existing)
        }
        var secret = Secret(metadata: ObjectMeta(name: name, namespace: namespace, labels: [SPOMetadata.appLabel: SPOMetadata.appLabelValue]))
        change(&secret)
        return try await resource.create(secret)
    }

    // MARK: Objects

    /// cert-manager's Issuer and Certificate, created and kept as rendered.
    private func ensureCertManagerObjects(logger: Logger) async throws {
        for (resource, desired) in WebhookRenderer.certManagerObjects(namespace: configuration.operatorNamespace) {
            let objects = client.dynamic(resource)
            let name = desired[path: ["metadata", "name"]]?.stringValue ?? ""
            let live: JSONValue
            do {
                live = try await objects.get(name, namespace: configuration.operatorNamespace)
            } catch let error as KubeAPIError where error.isNotFound {
                _ = try await objects.create(desired, namespace: configuration.operatorNamespace)
                logger.info("webhook.cert_manager.created", metadata: ["k8s.kind": "\(resource.kind)", "k8s.name": "\(name)"])
                continue
            }
            guard !(desired["spec"] ?? .null).isSemanticSubset(of: live["spec"] ?? .null) else { continue }
            var updated = live
            updated["spec"] = (live["spec"] ?? [:]).applyingMergePatch(desired["spec"] ?? [:])
            _ = try await objects.update(updated, name: name, namespace: configuration.operatorNamespace)
            logger.info("webhook.cert_manager.updated", metadata: ["k8s.kind": "\(resource.kind)", "k8s.name": "\(name)"])
        }
    }

    private func ensureConfiguration(_ desired: MutatingWebhookConfiguration, live: MutatingWebhookConfiguration?, settings: WebhookSettings, logger: Logger) async throws {
        let resource = client.resource(MutatingWebhookConfiguration.self)
        guard let live else {
            _ = try await resource.create(desired)
            logger.info("webhook.configuration.created")
            return
        }
        guard !WebhookRenderer.matches(desired, live, settings: settings) else { return }
        _ = try await resource.update(cached: live) { object in
            var webhooks = desired.webhooks ?? []
            if settings.certificateSource == .certManager {
                // cert-manager's injector owns the bundle.
                for index in webhooks.indices { webhooks[index].clientConfig.caBundle = object.webhooks?.first?.clientConfig.caBundle }
            }
            object.webhooks = webhooks
            object.metadata.labels = (object.metadata.labels ?? [:]).merging(desired.metadata.labels ?? [:]) { $1 }
            object.metadata.annotations = (object.metadata.annotations ?? [:]).merging(desired.metadata.annotations ?? [:]) { $1 }
        }
        logger.info("webhook.configuration.updated")
    }

    private func ensureService(_ desired: KubeService, logger: Logger) async throws {
        let resource = client.resource(KubeService.self)
        guard let live = services.get(name: WebhookRenderer.serviceName, namespace: configuration.operatorNamespace) else {
            _ = try await resource.create(desired)
            logger.info("webhook.service.created")
            return
        }
        guard !(desired.spec ?? .null).isSemanticSubset(of: live.spec ?? .null) || live.metadata.ownerReferences != desired.metadata.ownerReferences else { return }
        _ = try await resource.update(cached: live) { object in
            object.spec = (object.spec ?? [:]).applyingMergePatch(desired.spec ?? [:])
            object.metadata.ownerReferences = desired.metadata.ownerReferences
        }
        logger.info("webhook.service.updated")
    }

    private func ensureDeployment(_ desired: Deployment, logger: Logger) async throws {
        let resource = client.resource(Deployment.self)
        guard let live = deployments.get(name: WebhookRenderer.deploymentName, namespace: configuration.operatorNamespace) else {
            _ = try await resource.create(desired)
            logger.info("webhook.deployment.created")
            return
        }
        guard !(desired.spec ?? .null).isSemanticSubset(of: live.spec ?? .null) || live.metadata.ownerReferences != desired.metadata.ownerReferences else { return }
        _ = try await resource.update(cached: live) { object in
            object.spec = (object.spec ?? [:]).applyingMergePatch(desired.spec ?? [:])
            object.metadata.labels = (object.metadata.labels ?? [:]).merging(desired.metadata.labels ?? [:]) { $1 }
            object.metadata.ownerReferences = desired.metadata.ownerReferences
        }
        logger.info("webhook.deployment.updated")
    }
}
