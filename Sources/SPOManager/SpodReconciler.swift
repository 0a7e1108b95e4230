import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import SPOManagerKit

/// What the manager needs to know about where it runs.
public struct ManagerConfiguration: Sendable {
    public var operatorNamespace: String
    /// The spod the manager creates at start when missing.
    public var spodName: String
    public var daemonSet: DaemonSetSettings
    /// The manager was started with `--webhook=false`: the webhook objects are static manifests.
    public var staticWebhookConfig: Bool
    /// How the webhook is rendered; nil: the manager manages no webhook objects.
    public var webhook: WebhookSettings?
    /// Lifetimes of the self-managed webhook certificates.
    public var webhookCertificatePolicy: WebhookCertificatePlan.Policy
    public var workers: Int

    public init(
        operatorNamespace: String, daemonSet: DaemonSetSettings, spodName: String = SecurityProfilesOperatorDaemon.defaultName,
        staticWebhookConfig: Bool = false, webhook: WebhookSettings? = nil, webhookCertificatePolicy: WebhookCertificatePlan.Policy = .production,
        workers: Int = 2
    ) {
        self.operatorNamespace = operatorNamespace
        self.spodName = spodName
        self.daemonSet = daemonSet
        self.staticWebhookConfig = staticWebhookConfig
        self.webhook = webhook
        self.webhookCertificatePolicy = webhookCertificatePolicy
        self.workers = workers
    }
}

/// Reconciles a spod in the operator namespace into its DaemonSet, the `metrics` Service and,
/// with the log enricher on, the `log-enricher-trace` profile (reference §4.2-§4.3), and
/// reports honestly in `status.state`: `RUNNING` only once the DaemonSet's rollout of the
/// current generation is complete; `ERROR` with a message when the spec is invalid (the
/// DaemonSet is left as it was) or the API refuses a write.
public struct SpodReconciler: Reconciler {
    let configuration: ManagerConfiguration
    let spods: Store<SecurityProfilesOperatorDaemon>
    let daemonSets: Store<DaemonSet>
    let services: Store<KubeService>
    let client: KubernetesClient
    let events: EventRecorder
    let clock: @Sendable () -> Date

    public static let metricsServiceName = "metrics"
    public static let traceProfileName = "log-enricher-trace"

    public init(
        configuration: ManagerConfiguration, spods: Store<SecurityProfilesOperatorDaemon>, daemonSets: Store<DaemonSet>,
        services: Store<KubeService>, client: KubernetesClient, events: EventRecorder, clock: @escaping @Sendable () -> Date = Date.init
    ) {
        self.configuration = configuration
        self.spods = spods
        self.daemonSets = daemonSets
        self.services = services
        self.client = client
        self.events = events
        self.clock = clock
    }

    public func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult {
        guard key.namespace == configuration.operatorNamespace, let spod = spods.get(key), spod.metadata.deletionTimestamp == nil else {
            return .done
        }
        let problems = spod.validate()
        guard problems.isEmpty else {
            let message = "invalid spec, the DaemonSet is left as it was: " + problems.map(\.description).joined(separator: "; ")
            logger.warning("spod.invalid", metadata: ["error": "\(message)"])
            try await setStatus(of: spod, state: .error, reason: "Unavailable", message: message)
            await events.record(spod, type: .warning, reason: "CannotUpdateSPOD", message: message)
            return .done
        }

        let existing = daemonSets.get(name: key.name, namespace: key.namespace)
        let desired: DaemonSet
        do {
            desired = try DaemonSetRenderer.render(spod, settings: configuration.daemonSet)
        } catch {
            try await setStatus(of: spod, state: .error, reason: "Unavailable", message: "cannot render the DaemonSet: \(error)")
            throw TerminalError(error)
        }
        let state: SPODState
        let message: String
        do {
            if existing == nil {
                _ = try await client.resource(DaemonSet.self).create(desired)
                logger.info("spod.daemonset.created")
                (state, message) = (.creating, "created DaemonSet \(key.name)")
            } else if let existing, !Self.matches(desired, existing) {
                _ = try await client.resource(DaemonSet.self).update(key.name, namespace: key.namespace) { live in
                    live = Self.merged(desired, into: live)
                }
                logger.info("spod.daemonset.updated")
                (state, message) = (.updating, "updating DaemonSet \(key.name)")
            } else if let existing {
                (state, message) = Self.rolloutState(existing, previous: spod.status?.state)
            } else {
                return .done
            }
            try await ensureSupportingObjects(for: spod, logger: logger)
        } catch let error as KubeAPIError where error.isConflict || error.isAlreadyExists {
            // Someone changed or created an object meanwhile (or the cache lags behind our own
            // write): read the news and try again.
            return .requeue
        } catch {
            let reason = existing == nil ? "CannotCreateSPOD" : "CannotUpdateSPOD"
            await events.record(spod, type: .warning, reason: reason, message: "\(error)")
            try await setStatus(of: spod, state: .error, reason: "Unavailable", message: "\(reason): \(error)")
            throw error
        }
        let ready = state == .running
        try await setStatus(of: spod, state: state, reason: ready ? "Available" : (state == .creating ? "Creating" : "Updating"), message: message)
        return .done
    }

    /// Whether the live DaemonSet still says what was rendered (fields the API server or other
    /// tools added are ignored; a changed or removed rendered field is not).
    static func matches(_ desired: DaemonSet, _ live: DaemonSet) -> Bool {
        let annotation = DaemonSetRenderer.appArmorAnnotation
        guard live.metadata.annotations?[annotation] == desired.metadata.annotations?[annotation],
              (desired.metadata.labels ?? [:]).allSatisfy({ live.metadata.labels?[$0.key] == $0.value }),
              live.metadata.ownerReferences?.contains(where: { $0.controller == true && $0.uid == desired.metadata.ownerReferences?.first?.uid }) == true
        else { return false }
        return (desired.spec ?? .null).isSemanticSubset(of: live.spec ?? .null)
    }

    /// The live object with the rendered spec merged in (a JSON merge patch: rendered arrays
    /// replace the live ones, rendered `null`s remove fields) and the rendered metadata.
    static func merged(_ desired: DaemonSet, into live: DaemonSet) -> DaemonSet {
        var result = live
        result.spec = (live.spec ?? [:]).applyingMergePatch(desired.spec ?? [:])
        result.metadata.labels = (live.metadata.labels ?? [:]).merging(desired.metadata.labels ?? [:]) { $1 }
        var annotations = live.metadata.annotations ?? [:]
        annotations[DaemonSetRenderer.appArmorAnnotation] = desired.metadata.annotations?[DaemonSetRenderer.appArmorAnnotation]
        result.metadata.annotations = annotations.isEmpty ? nil : annotations
        result.metadata.ownerReferences = desired.metadata.ownerReferences
        return result
    }

    /// RUNNING once the current generation is on every scheduled node and available; until
    /// then CREATING (first rollout) or UPDATING.
    static func rolloutState(_ daemonSet: DaemonSet, previous: SPODState?) -> (SPODState, String) {
        let status = daemonSet.status ?? DaemonSetStatus()
        let counts = "\(status.updatedNumberScheduled ?? 0) updated, \(status.numberAvailable ?? 0) available of \(status.desiredNumberScheduled ?? 0) scheduled"
        if daemonSet.rolloutComplete {
            return (.running, "the daemon runs on all \(status.desiredNumberScheduled ?? 0) scheduled nodes")
        }
        let first = previous == nil || previous == .pending || previous == .creating
        return (first ? .creating : .updating, "rollout in progress: \(counts)")
    }

    // MARK: Supporting objects

    private func ensureSupportingObjects(for spod: SecurityProfilesOperatorDaemon, logger: Logger) async throws {
        let desired = Self.metricsService(for: spod)
        if let live = services.get(name: Self.metricsServiceName, namespace: spod.metadata.namespace) {
            if !(desired.spec ?? .null).isSemanticSubset(of: live.spec ?? .null) || live.metadata.ownerReferences != desired.metadata.ownerReferences {
                _ = try await client.resource(KubeService.self).update(Self.metricsServiceName, namespace: spod.metadata.namespace) { live in
                    live.spec = (live.spec ?? [:]).applyingMergePatch(desired.spec ?? [:])
                    live.metadata.labels = (live.metadata.labels ?? [:]).merging(desired.metadata.labels ?? [:]) { $1 }
                    live.metadata.ownerReferences = desired.metadata.ownerReferences
                }
                logger.info("spod.service.updated")
            }
        } else {
            do {
                _ = try await client.resource(KubeService.self).create(desired)
                logger.info("spod.service.created")
            } catch let error as KubeAPIError where error.isAlreadyExists {
                // Created moments ago; the cache will show it.
            }
        }
        if spod.spec?.enableLogEnricher == true {
            var trace = SeccompProfile(
                metadata: ObjectMeta(name: Self.traceProfileName, namespace: spod.metadata.namespace, labels: [SPOMetadata.appLabel: SPOMetadata.appLabelValue]),
                spec: .init(defaultAction: .log))
            trace.setTypeMeta()
            do {
                _ = try await client.resource(SeccompProfile.self).create(trace)
                logger.info("spod.trace_profile.created")
            } catch let error as KubeAPIError where error.isAlreadyExists {
                // Already there (the user may have tuned it): left alone.
            }
        }
    }

    /// The `metrics` Service: port `https` 443 → 9443 of the daemon pods, owned by the spod.
    public static func metricsService(for spod: SecurityProfilesOperatorDaemon) -> KubeService {
        var metadata = ObjectMeta(name: metricsServiceName, namespace: spod.metadata.namespace, labels: DaemonSetRenderer.podLabels)
        metadata.ownerReferences = [OwnerReference(
            apiVersion: SecurityProfilesOperatorDaemon.apiVersion, kind: SecurityProfilesOperatorDaemon.kind,
            name: spod.metadata.name ?? "", uid: spod.metadata.uid ?? "", controller: true, blockOwnerDeletion: true)]
        let selector = (try? JSONValue(encoding: DaemonSetRenderer.podLabels)) ?? [:]
        return KubeService(metadata: metadata, spec: [
            "selector": selector,
            "ports": [
                ["name": "https", "port": 443, "targetPort": .int(Int64(DaemonSetRenderer.metricsPort)), "protocol": "TCP"],
                // The log enricher's counters (seccomp/selinux_profile_audit_total); a named target
                // port, so nodes without the enricher contribute no endpoint.
                [
                    "name": .string(DaemonSetRenderer.enricherMetricsPortName), "port": .int(Int64(DaemonSetRenderer.enricherMetricsPort)),
                    "targetPort": .string(DaemonSetRenderer.enricherMetricsPortName), "protocol": "TCP",
                ],
            ],
        ])
    }

    // MARK: Status

    private func setStatus(of spod: SecurityProfilesOperatorDaemon, state: SPODState, reason: String, message: String) async throws {
        let now = KubeTime.format(clock())
        let ready = Condition(type: "Ready", status: state == .running ? "True" : "False", lastTransitionTime: now, reason: reason, message: message)
        let apply = { (object: inout SecurityProfilesOperatorDaemon) -> Bool in
            var status = object.status ?? .init()
            status.state = state
            status.conditions = ProfileAggregation.setting(ready, in: status.conditions)
            guard status != object.status else { return false }
            object.status = status
            return true
        }
        var copy = spod
        guard apply(&copy) else { return }
        _ = try await client.resource(SecurityProfilesOperatorDaemon.self).updateStatus(cached: spod) { _ = apply(&$0) }
    }
}
