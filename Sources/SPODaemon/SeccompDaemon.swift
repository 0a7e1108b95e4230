import CoreMetrics
import KubeClient
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import SeccompCompiler
import ServiceLifecycle

/// The daemon's seccomp side, wired together: informers for SeccompProfiles (all namespaces)
/// and the spod, the ``SeccompProfileReconciler`` behind a controller, and a startup sweep
/// that reconciles files of profiles that no longer exist. Run ``services`` in a ServiceGroup.
public final class SeccompDaemon: Sendable {
    public let profiles: Informer<SeccompProfile>
    public let spods: Informer<SecurityProfilesOperatorDaemon>
    /// This node's SecurityProfileNodeStatuses, so reconciles read them from memory.
    public let nodeStatuses: Informer<SecurityProfileNodeStatus>
    public let controller: Controller
    /// Publishes node outcomes through the API, apart from file installation.
    public let statusController: Controller
    public let directory: SeccompProfileDirectory
    /// Whether this node's kernel enforces seccomp filters.
    public let seccompSupported: Bool
    private let logger: Logger

    public init(
        client: KubernetesClient,
        identity: DaemonIdentity,
        kubeletDirectory: String,
        builtInProfiles: [String: SeccompProfile.Spec] = [:],
        fileSystem: any ProfileFileSystem = LocalFileSystem(),
        seccompSupported: Bool = SeccompSupport.isEnabled,
        workers: Int = 4,
        reflector: ReflectorStateMachine.Configuration = .init(),
        metricsFactory: (any MetricsFactory)? = nil,
        logger: Logger = Logger(label: "spod.seccomp")
    ) {
        profiles = Informer(
            client: client.resource(SeccompProfile.self), reflector: reflector,
            transform: AnnotationFingerprint.trimming([SPOMetadata.syscallsAnnotation]), logger: logger)
        spods = Informer(client: client.resource(SecurityProfilesOperatorDaemon.self), namespace: identity.operatorNamespace, reflector: reflector, logger: logger)
        nodeStatuses = Informer(
            client: client.resource(SecurityProfileNodeStatus.self),
            labelSelector: "\(SPOMetadata.nodeNameLabel)=\(identity.nodeName)", reflector: reflector, logger: logger)
        directory = SeccompProfileDirectory(kubeletDirectory: kubeletDirectory, fileSystem: fileSystem)
        let events = EventRecorder(client: client, component: "profile", host: identity.nodeName, logger: logger)
        let statusQueue = WorkQueue<ObjectKey>(name: "seccomp-status", metricsFactory: metricsFactory)
        let reconciler = SeccompProfileReconciler(
            identity: identity, profiles: profiles.store, spods: spods.store, nodeStatuses: nodeStatuses.store,
            client: client, directory: directory, outcomes: OutcomeBook(), statusQueue: statusQueue,
            events: events, builtInProfiles: builtInProfiles, seccompSupported: seccompSupported, metricsFactory: metricsFactory)
        controller = Controller(name: "seccomp-spod", reconciler: reconciler, workers: workers, logger: logger, metricsFactory: metricsFactory)
        statusController = Controller(
            name: "seccomp-status", reconciler: SeccompStatusReconciler(files: reconciler), queue: statusQueue,
            workers: workers, logger: logger, metricsFactory: metricsFactory)
        self.logger = logger
        self.seccompSupported = seccompSupported
        if !seccompSupported {
            logger.error("seccomp.not_supported_on_node", metadata: ["node": "\(identity.nodeName)"])
        }

        let queue = controller.queue
        let store = profiles.store
        let finalizer = ProfileIdentity.nodeFinalizer(nodeName: identity.nodeName)
        // A profile's change also concerns the profiles that use it as their base, found
        // through an index rather than a scan of the namespace on every event.
        let dependents = ReferenceIndex<ObjectKey>()
        let enqueueWithDependents: @Sendable (SeccompProfile) -> Void = { profile in
            queue.add(profile.key)
            for dependent in dependents.dependents(of: profile.key) { queue.add(dependent) }
        }
        profiles.addHandler(InformerHandler(
            onAdd: { profile in
                dependents.set(profile.key, references: Self.base(of: profile))
                enqueueWithDependents(profile)
            },
            onUpdate: { old, new in
                dependents.set(new.key, references: Self.base(of: new))
                guard Self.concernsNode(old: old, new: new, finalizer: finalizer) else { return }
                enqueueWithDependents(new)
            },
            onDelete: { profile in
                dependents.remove(profile.key)
                enqueueWithDependents(profile)
            }))
        // The spod's allow-list applies to every profile.
        let spodName = identity.spodName
        let enqueueAll: @Sendable (SecurityProfilesOperatorDaemon) -> Void = { spod in
            guard spod.metadata.name == spodName else { return }
            for profile in store.list() { queue.add(profile.key) }
        }
        spods.addHandler(InformerHandler(onAdd: enqueueAll, onUpdate: { old, new in
            if old.spec != new.spec { enqueueAll(new) }
        }, onDelete: enqueueAll))
    }

    /// Whether an update can change what this node does with a profile. The node's own
    /// metadata write (finalizer, profile-id label, first `syscalls` annotation) and the
    /// manager's status updates cannot, and a second pass over them would compile and compare
    /// the file again for nothing. A redelivery of the same version, a new spec, a deletion,
    /// the partial label, this node's finalizer or label gone, or an annotation someone changed
    /// all can.
    static func concernsNode(old: SeccompProfile, new: SeccompProfile, finalizer: String) -> Bool {
        let annotation = { (profile: SeccompProfile) in profile.metadata.annotations?[SPOMetadata.syscallsAnnotation] }
        return old.metadata.resourceVersion == new.metadata.resourceVersion
            || old.spec != new.spec
            || new.metadata.deletionTimestamp != nil
            || old.metadata.labels?[SPOMetadata.partialLabel] != new.metadata.labels?[SPOMetadata.partialLabel]
            || new.metadata.finalizers?.contains(finalizer) != true
            || new.metadata.labels?[SPOMetadata.profileIDLabel] == nil
            || (annotation(old) != nil && annotation(old) != annotation(new))
    }

    /// The profile `profile` names as its `baseProfileName`, in its namespace.
    private static func base(of profile: SeccompProfile) -> Set<ObjectKey> {
        profile.spec?.baseProfileName.map { [ObjectKey(namespace: profile.metadata.namespace, name: $0)] } ?? []
    }

    /// Whether the caches hold their first list.
    public var hasSynced: Bool { profiles.hasSynced && spods.hasSynced && nodeStatuses.hasSynced }

    /// The daemon's readiness: synced, on a node that enforces seccomp. A node without seccomp
    /// is reported (node statuses, events, metric) but never ready, so the DaemonSet's rollout
    /// and the spod show the problem, without a restart loop.
    public var isReady: Bool { hasSynced && seccompSupported }

    public var services: [any Service] { [profiles, spods, nodeStatuses, controller, statusController, OrphanSweep(daemon: self)] }

    /// Once the caches are synced, queues every installed file whose profile is gone, so the
    /// reconciler removes it; then idles until shutdown.
    struct OrphanSweep: Service {
        let daemon: SeccompDaemon

        func run() async throws {
            await daemon.profiles.waitForSync()
            await daemon.nodeStatuses.waitForSync()
            do {
                for (namespace, name) in try daemon.directory.installed()
                where daemon.profiles.store.get(name: name, namespace: namespace) == nil {
                    daemon.controller.queue.add(ObjectKey(namespace: namespace, name: name))
                }
            } catch {
                daemon.logger.error("seccomp.sweep_failed", metadata: ["error": "\(error)"])
            }
            // A service that returns would end the whole group: stay until shutdown.
            try await gracefulShutdown()
        }
    }
}
