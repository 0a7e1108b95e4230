import CoreMetrics
import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import SPOManagerKit
import ServiceLifecycle

/// The manager's controllers, wired to their informers: spod → DaemonSet, status aggregation
/// for the four profile kinds, and workload tracking for SeccompProfiles and SelinuxProfiles.
///
/// Run it as a `Service`. With a ``LeaderElector`` it waits for leadership before it lists or
/// writes anything; it then creates the default spod when missing, waits for its caches, and
/// runs the controllers until graceful shutdown.
public final class OperatorManager: Service, Sendable {
    public let spods: Informer<SecurityProfilesOperatorDaemon>
    public let daemonSets: Informer<DaemonSet>
    public let services: Informer<KubeService>
    public let nodes: Informer<Node>
    public let nodeStatuses: Informer<SecurityProfileNodeStatus>
    public let seccompProfiles: Informer<SeccompProfile>
    public let selinuxProfiles: Informer<SelinuxProfile>
    public let rawSelinuxProfiles: Informer<RawSelinuxProfile>
    public let appArmorProfiles: Informer<AppArmorProfile>
    public let pods: Informer<Pod>
    public let bindings: Informer<ProfileBinding>
    public let recordings: Informer<ProfileRecording>
    /// The webhook's objects; nil when the manager manages no webhook.
    public let webhookInformers: WebhookInformers?
    public let spodController: Controller
    /// The webhook's objects and certificates, when the manager manages them.
    public let webhookController: Controller?
    /// `activeWorkloads` and finalizers of ProfileBindings and ProfileRecordings, and the
    /// merging of recordings' partial profiles.
    public let admissionTrackers: [Controller]
    /// Status aggregation and workload tracking controllers.
    public let profileControllers: [Controller]
    let configuration: ManagerConfiguration
    let client: KubernetesClient
    let elector: LeaderElector?
    let logger: Logger

    public init(
        client: KubernetesClient,
        configuration: ManagerConfiguration,
        elector: LeaderElector? = nil,
        reflector: ReflectorStateMachine.Configuration = .init(),
        metricsFactory: (any MetricsFactory)? = nil,
        clock: @escaping @Sendable () -> Date = Date.init,
        logger: Logger = Logger(label: "spo.manager")
    ) {
        self.configuration = configuration
        self.client = client
        self.elector = elector
        self.logger = logger
        let namespace = configuration.operatorNamespace
        func informer<R: KubeResource>(_ type: R.Type, namespace: String? = nil, labels: String? = nil) -> Informer<R> {
            Informer(client: client.resource(type), namespace: namespace, labelSelector: labels, reflector: reflector, logger: logger)
        }
        spods = informer(SecurityProfilesOperatorDaemon.self, namespace: namespace)
        daemonSets = informer(DaemonSet.self, namespace: namespace)
        services = informer(KubeService.self, namespace: namespace, labels: "\(SPOMetadata.appLabel)=\(SPOMetadata.appLabelValue)")
        nodes = informer(Node.self)
        nodeStatuses = informer(SecurityProfileNodeStatus.self)
        seccompProfiles = informer(SeccompProfile.self)
        selinuxProfiles = informer(SelinuxProfile.self)
        rawSelinuxProfiles = informer(RawSelinuxProfile.self)
        appArmorProfiles = informer(AppArmorProfile.self)
        pods = informer(Pod.self)
        bindings = informer(ProfileBinding.self)
        recordings = informer(ProfileRecording.self)
        let appLabel = "\(SPOMetadata.appLabel)=\(SPOMetadata.appLabelValue)"
        if configuration.webhook != nil {
            webhookInformers = WebhookInformers(
                deployments: informer(Deployment.self, namespace: namespace, labels: appLabel),
                configurations: informer(MutatingWebhookConfiguration.self, labels: appLabel),
                secrets: informer(Secret.self, namespace: namespace, labels: appLabel))
        } else {
            webhookInformers = nil
        }

        let events = EventRecorder(client: client, component: "security-profiles-operator", logger: logger)
        spodController = Controller(
            name: "spod",
            reconciler: SpodReconciler(
                configuration: configuration, spods: spods.store, daemonSets: daemonSets.store, services: services.store,
                client: client, events: events, clock: clock),
            logger: logger, metricsFactory: metricsFactory)

        let (statusStore, nodeStore, daemonSetStore) = (nodeStatuses.store, nodes.store, daemonSets.store)
        let statusIndex = NodeStatusIndex()
        nodeStatuses.addHandler(statusIndex.handler())
        func aggregator<P: NodeInstalledProfile>(_ profiles: Informer<P>, name: String) -> Controller {
            Controller(
                name: name,
                reconciler: ProfileStatusAggregator(
                    profiles: profiles.store, nodeStatuses: statusStore, index: statusIndex, nodes: nodeStore, daemonSets: daemonSetStore,
                    configuration: configuration, client: client, clock: clock),
                workers: configuration.workers, logger: logger, metricsFactory: metricsFactory)
        }
        let seccompStatus = aggregator(seccompProfiles, name: "seccompprofile-status")
        let selinuxStatus = aggregator(selinuxProfiles, name: "selinuxprofile-status")
        let rawSelinuxStatus = aggregator(rawSelinuxProfiles, name: "rawselinuxprofile-status")
        let appArmorStatus = aggregator(appArmorProfiles, name: "apparmorprofile-status")
        let workloadIndex = WorkloadIndex()
        let seccompWorkloads = Controller(
            name: "seccompprofile-workloads",
            reconciler: WorkloadAnnotator(profiles: seccompProfiles.store, client: client) { workloadIndex.pods(using: $0) },
            workers: configuration.workers, logger: logger, metricsFactory: metricsFactory)
        let selinuxWorkloads = Controller(
            name: "selinuxprofile-workloads",
            reconciler: WorkloadAnnotator(profiles: selinuxProfiles.store, client: client) { workloadIndex.pods(using: $0) },
            workers: configuration.workers, logger: logger, metricsFactory: metricsFactory)
        profileControllers = [seccompStatus, selinuxStatus, rawSelinuxStatus, appArmorStatus, seccompWorkloads, selinuxWorkloads]

        if let webhookInformers {
            webhookController = Controller(
                name: "webhook",
                reconciler: WebhookReconciler(
                    configuration: configuration, spods: spods.store, deployments: webhookInformers.deployments.store, services: services.store,
                    webhookConfigurations: webhookInformers.configurations.store, secrets: webhookInformers.secrets.store,
                    client: client, events: events, clock: clock),
                logger: logger, metricsFactory: metricsFactory)
        } else {
            webhookController = nil
        }
        let bindingTracker = Controller(
            name: "profilebinding-workloads", reconciler: BindingTracker(bindings: bindings.store, pods: pods.store, client: client),
            workers: configuration.workers, logger: logger, metricsFactory: metricsFactory)
        let recordingTracker = Controller(
            name: "profilerecording-workloads", reconciler: RecordingTracker(recordings: recordings.store, pods: pods.store, client: client),
            workers: configuration.workers, logger: logger, metricsFactory: metricsFactory)
        let merger = Controller(
            name: "profilerecording-merge",
            reconciler: RecordingMerger(
                recordings: recordings.store, seccompProfiles: seccompProfiles.store, selinuxProfiles: selinuxProfiles.store, nodes: nodes.store,
                client: client, events: events),
            logger: logger, metricsFactory: metricsFactory)
        admissionTrackers = [bindingTracker, recordingTracker, merger]

        // spod: its own changes and those of the objects it owns.
        spods.addHandler(spodController.enqueueHandler())
        if let webhookController, let webhookInformers {
            spods.addHandler(webhookController.enqueueHandler())
            let webhookQueue = webhookController.queue
            let spodKey = ObjectKey(namespace: namespace, name: configuration.spodName)
            let enqueueSpod: @Sendable () -> Void = { webhookQueue.add(spodKey) }
            webhookInformers.deployments.addHandler(InformerHandler(onAdd: { _ in enqueueSpod() }, onUpdate: { _, _ in enqueueSpod() }, onDelete: { _ in enqueueSpod() }))
            webhookInformers.configurations.addHandler(InformerHandler(onAdd: { _ in enqueueSpod() }, onUpdate: { _, _ in enqueueSpod() }, onDelete: { _ in enqueueSpod() }))
            webhookInformers.secrets.addHandler(InformerHandler(onAdd: { _ in enqueueSpod() }, onUpdate: { _, _ in enqueueSpod() }, onDelete: { _ in enqueueSpod() }))
            services.addHandler(InformerHandler(onAdd: { _ in enqueueSpod() }, onUpdate: { _, _ in enqueueSpod() }, onDelete: { _ in enqueueSpod() }))
        }
        let spodQueue = spodController.queue
        let enqueueOwner: @Sendable (ObjectMeta) -> Void = { metadata in
            if let owner = metadata.ownerReferences?.first(where: { $0.controller == true && $0.kind == SecurityProfilesOperatorDaemon.kind }) {
                spodQueue.add(ObjectKey(namespace: metadata.namespace, name: owner.name))
            }
        }
        // Aggregation: a profile, its node statuses, and the set of nodes the daemon runs on.
        let aggregators: [(kind: String, queue: WorkQueue<ObjectKey>, keys: @Sendable () -> [ObjectKey])] = [
            (SeccompProfile.kind, seccompStatus.queue, { [store = seccompProfiles.store] in store.keys }),
            (SelinuxProfile.kind, selinuxStatus.queue, { [store = selinuxProfiles.store] in store.keys }),
            (RawSelinuxProfile.kind, rawSelinuxStatus.queue, { [store = rawSelinuxProfiles.store] in store.keys }),
            (AppArmorProfile.kind, appArmorStatus.queue, { [store = appArmorProfiles.store] in store.keys }),
        ]
        let requeueAllProfiles: @Sendable () -> Void = {
            for aggregator in aggregators { for key in aggregator.keys() { aggregator.queue.add(key) } }
        }
        let spodName = configuration.spodName
        daemonSets.addHandler(InformerHandler(
            onAdd: { enqueueOwner($0.metadata); requeueAllProfiles() },
            onUpdate: { old, new in
                enqueueOwner(new.metadata)
                if new.metadata.name == spodName, old.status?.desiredNumberScheduled != new.status?.desiredNumberScheduled { requeueAllProfiles() }
            },
            onDelete: { enqueueOwner($0.metadata); requeueAllProfiles() }))
        services.addHandler(InformerHandler(
            onAdd: { enqueueOwner($0.metadata) }, onUpdate: { enqueueOwner($1.metadata) }, onDelete: { enqueueOwner($0.metadata) }))
        nodes.addHandler(InformerHandler(onAdd: { _ in requeueAllProfiles() }, onUpdate: { _, _ in }, onDelete: { _ in requeueAllProfiles() }))
        let enqueueStatusOwner: @Sendable (SecurityProfileNodeStatus) -> Void = { status in
            let kind = status.metadata.labels?[SPOMetadata.profileKindLabel]
            guard let owner = status.metadata.ownerReferences?.first(where: { $0.controller == true }),
                  let aggregator = aggregators.first(where: { $0.kind == owner.kind || $0.kind == kind }) else { return }
            aggregator.queue.add(ObjectKey(namespace: status.metadata.namespace, name: owner.name))
        }
        nodeStatuses.addHandler(InformerHandler(onAdd: enqueueStatusOwner, onUpdate: { enqueueStatusOwner($1) }, onDelete: enqueueStatusOwner))
        seccompProfiles.addHandler(seccompStatus.enqueueHandler())
        seccompProfiles.addHandler(seccompWorkloads.enqueueHandler())
        selinuxProfiles.addHandler(selinuxStatus.enqueueHandler())
        selinuxProfiles.addHandler(selinuxWorkloads.enqueueHandler())
        rawSelinuxProfiles.addHandler(rawSelinuxStatus.enqueueHandler())
        appArmorProfiles.addHandler(appArmorStatus.enqueueHandler())

        // Workloads: a pod concerns the profiles it uses, before and after a change.
        let seccompWorkloadQueue = seccompWorkloads.queue
        let selinuxWorkloadQueue = selinuxWorkloads.queue
        pods.addHandler(workloadIndex.handler { reference in
            switch reference.kind {
            case .seccomp: seccompWorkloadQueue.add(reference.profile)
            case .selinux: selinuxWorkloadQueue.add(reference.profile)
            }
        })

        // Admission bookkeeping: a pod concerns the bindings of its namespace and the
        // recordings its annotations name, before and after a change.
        bindings.addHandler(bindingTracker.enqueueHandler())
        recordings.addHandler(recordingTracker.enqueueHandler())
        recordings.addHandler(merger.enqueueHandler())
        let (bindingQueue, recordingQueue, bindingStore) = (bindingTracker.queue, recordingTracker.queue, bindings.store)
        let podChanged: @Sendable (Pod?, Pod) -> Void = { old, new in
            for binding in bindingStore.list(namespace: new.metadata.namespace) { bindingQueue.add(binding.key) }
            for key in RecordingTracker.recordings(of: new).union(old.map(RecordingTracker.recordings) ?? []) { recordingQueue.add(key) }
        }
        pods.addHandler(InformerHandler(onAdd: { podChanged(nil, $0) }, onUpdate: { podChanged($0, $1) }, onDelete: { podChanged(nil, $0) }))
    }

    var informers: [any Service] {
        [spods, daemonSets, services, nodes, nodeStatuses, seccompProfiles, selinuxProfiles, rawSelinuxProfiles, appArmorProfiles, pods, bindings, recordings]
            + (webhookInformers?.all ?? [])
    }

    /// Whether every cache holds its first list (the manager's readiness once leading).
    public var hasSynced: Bool {
        spods.hasSynced && daemonSets.hasSynced && services.hasSynced && nodes.hasSynced && nodeStatuses.hasSynced
            && seccompProfiles.hasSynced && selinuxProfiles.hasSynced && rawSelinuxProfiles.hasSynced && appArmorProfiles.hasSynced
            && pods.hasSynced && bindings.hasSynced && recordings.hasSynced && (webhookInformers?.hasSynced ?? true)
    }

    public func run() async throws {
        if let elector {
            logger.info("manager.waiting_for_leadership")
            guard await elector.waitUntilLeader() else { return }
            logger.info("manager.leading")
        }
        try await ensureDefaultSpod()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for informer in informers {
                group.addTask { try await informer.run() }
            }
            group.addTask {
                // A shutdown before the caches fill ends the manager without starting controllers.
                guard await self.waitForSyncUnlessShuttingDown() else { return }
                self.logger.info("manager.caches_synced")
                try await withThrowingTaskGroup(of: Void.self) { controllers in
                    for controller in [self.spodController] + self.profileControllers + self.admissionTrackers + [self.webhookController].compactMap({ $0 }) {
                        controllers.addTask { try await controller.run() }
                    }
                    try await controllers.waitForAll()
                }
            }
            try await group.waitForAll()
        }
    }

    /// `true` once every cache is synced; `false` when a graceful shutdown came first.
    private func waitForSyncUnlessShuttingDown() async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.waitForSync()
                return !Task.isCancelled
            }
            group.addTask {
                try? await gracefulShutdown()
                return false
            }
            let synced = await group.next() ?? false
            group.cancelAll()
            return synced
        }
    }

    private func waitForSync() async {
        await spods.waitForSync()
        await daemonSets.waitForSync()
        await services.waitForSync()
        await nodes.waitForSync()
        await nodeStatuses.waitForSync()
        await seccompProfiles.waitForSync()
        await selinuxProfiles.waitForSync()
        await rawSelinuxProfiles.waitForSync()
        await appArmorProfiles.waitForSync()
        await pods.waitForSync()
        await bindings.waitForSync()
        await recordings.waitForSync()
        await webhookInformers?.waitForSync()
    }

    /// Creates the default spod (reference §4.1) unless one exists.
    func ensureDefaultSpod() async throws {
        let spod = SecurityProfilesOperatorDaemon.defaultObject(
            namespace: configuration.operatorNamespace, staticWebhookConfig: configuration.staticWebhookConfig)
        do {
            _ = try await client.resource(SecurityProfilesOperatorDaemon.self).create(spod)
            logger.info("manager.spod.created", metadata: ["spod": "\(configuration.operatorNamespace)/\(configuration.spodName)"])
        } catch let error as KubeAPIError where error.isAlreadyExists {
            // The user's (or an earlier manager's) spod stays as it is.
        }
    }
}

/// The caches of the webhook's objects: its Deployment, the MutatingWebhookConfiguration and the
/// certificate Secrets (all labelled `app: security-profiles-operator`).
public struct WebhookInformers: Sendable {
    public let deployments: Informer<Deployment>
    public let configurations: Informer<MutatingWebhookConfiguration>
    public let secrets: Informer<Secret>

    var all: [any Service] { [deployments, configurations, secrets] }
    var hasSynced: Bool { deployments.hasSynced && configurations.hasSynced && secrets.hasSynced }

    func waitForSync() async {
        await deployments.waitForSync()
        await configurations.waitForSync()
        await secrets.waitForSync()
    }
}
