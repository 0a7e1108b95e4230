import AppArmorKit
import AppArmorNode
import CoreMetrics
import KubeClient
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import SelinuxKit
import SelinuxNode
import ServiceLifecycle

/// One profile kind's side of the daemon, wired together: an informer for the kind (all
/// namespaces), one for this node's statuses of that kind, one for the spod, and a controller
/// running the kind's reconciler. Build it with ``appArmor(client:identity:loader:workers:reflector:metricsFactory:logger:)``
/// or ``selinux(_:client:identity:committer:workers:reflector:metricsFactory:logger:)``; run
/// ``services`` in a ServiceGroup.
public final class NodeProfileDaemon<Profile: KubeResource & Hashable>: Sendable {
    public let profiles: Informer<Profile>
    public let spods: Informer<SecurityProfilesOperatorDaemon>
    /// This node's SecurityProfileNodeStatuses of this kind, so reconciles read them from memory.
    public let nodeStatuses: Informer<SecurityProfileNodeStatus>
    public let controller: Controller

    /// `reconciler` gets the stores, this node's status writer, the controller's queue and the
    /// index of `references` (the profiles each one builds on). A profile's change is also
    /// queued for the profiles that refer to it, those it refers to, and those `related` names.
    init(
        client: KubernetesClient, identity: DaemonIdentity, name: String, workers: Int,
        reflector: ReflectorStateMachine.Configuration, metricsFactory: (any MetricsFactory)?, logger: Logger,
        reconciler: (Store<Profile>, Store<SecurityProfilesOperatorDaemon>, NodeProfileStatus<Profile>, WorkQueue<ObjectKey>, ReferenceIndex<ObjectKey>) -> any Reconciler,
        references: @escaping @Sendable (Profile) -> Set<ObjectKey> = { _ in [] },
        related: @escaping @Sendable (Profile, Store<Profile>) -> [ObjectKey] = { _, _ in [] }
    ) {
        profiles = Informer(client: client.resource(Profile.self), reflector: reflector, logger: logger)
        spods = Informer(client: client.resource(SecurityProfilesOperatorDaemon.self), namespace: identity.operatorNamespace, reflector: reflector, logger: logger)
        nodeStatuses = Informer(
            client: client.resource(SecurityProfileNodeStatus.self),
            labelSelector: "\(SPOMetadata.nodeNameLabel)=\(identity.nodeName),\(SPOMetadata.profileKindLabel)=\(Profile.kind)",
            reflector: reflector, logger: logger)
        let queue = WorkQueue<ObjectKey>(name: name, metricsFactory: metricsFactory)
        let nodeStatus = NodeProfileStatus<Profile>(identity: identity, client: client, nodeStatuses: nodeStatuses.store)
        let index = ReferenceIndex<ObjectKey>()
        controller = Controller(
            name: name, reconciler: reconciler(profiles.store, spods.store, nodeStatus, queue, index), queue: queue,
            workers: workers, logger: logger, metricsFactory: metricsFactory)

        let store = profiles.store
        let enqueue: @Sendable (Profile, _ deleted: Bool) -> Void = { profile, deleted in
            let refers = references(profile)
            index.set(profile.key, references: deleted ? [] : refers)
            queue.add(profile.key)
            for key in index.dependents(of: profile.key).union(refers) { queue.add(key) }
            for key in related(profile, store) { queue.add(key) }
        }
        profiles.addHandler(InformerHandler(
            onAdd: { enqueue($0, false) }, onUpdate: { _, new in enqueue(new, false) }, onDelete: { enqueue($0, true) }))
        // The spod's allow-lists apply to every profile.
        let spodName = identity.spodName
        let enqueueAll: @Sendable (SecurityProfilesOperatorDaemon) -> Void = { spod in
            guard spod.metadata.name == spodName else { return }
            for key in store.keys { queue.add(key) }
        }
        spods.addHandler(InformerHandler(onAdd: enqueueAll, onUpdate: { old, new in
            if old.spec != new.spec { enqueueAll(new) }
        }, onDelete: enqueueAll))
    }

    public var hasSynced: Bool { profiles.hasSynced && spods.hasSynced && nodeStatuses.hasSynced }

    public var services: [any Service] { [profiles, spods, nodeStatuses, controller] }
}

extension NodeProfileDaemon where Profile == AppArmorProfile {
    /// AppArmorProfiles loaded into this node's kernel. A profile change also concerns the
    /// same-named profiles of other namespaces (AppArmor names are node-wide).
    public static func appArmor(
        client: KubernetesClient, identity: DaemonIdentity, loader: AppArmorLoader = AppArmorLoader(), workers: Int = 2,
        reflector: ReflectorStateMachine.Configuration = .init(), metricsFactory: (any MetricsFactory)? = nil,
        logger: Logger = Logger(label: "spod.apparmor")
    ) -> NodeProfileDaemon {
        if let reason = loader.kernel.unsupportedReason() {
            logger.error("apparmor.not_supported_on_node", metadata: ["node": "\(identity.nodeName)", "reason": "\(reason)"])
        }
        let events = EventRecorder(client: client, component: "apparmorprofile", host: identity.nodeName, logger: logger)
        return NodeProfileDaemon(
            client: client, identity: identity, name: "apparmor-spod", workers: workers, reflector: reflector,
            metricsFactory: metricsFactory, logger: logger,
            reconciler: { profiles, _, nodeStatus, _, _ in
                AppArmorProfileReconciler(profiles: profiles, nodeStatus: nodeStatus, loader: loader, events: events, metricsFactory: metricsFactory)
            },
            related: { profile, store in
                store.keys.filter { $0.name == profile.metadata.name && $0.namespace != profile.metadata.namespace }
            })
    }
}

extension NodeProfileDaemon where Profile: SelinuxModuleProfile {
    /// One SELinux kind installed into this node's policy store through `committer` (shared
    /// by both kinds, so their commits are serialised and batched together). A SelinuxProfile's
    /// change also concerns the SelinuxProfiles that inherit from it and those it inherits.
    public static func selinux(
        _ kind: Profile.Type, client: KubernetesClient, identity: DaemonIdentity, committer: SelinuxModuleCommitter, workers: Int = 2,
        reflector: ReflectorStateMachine.Configuration = .init(), metricsFactory: (any MetricsFactory)? = nil,
        logger: Logger = Logger(label: "spod.selinux")
    ) -> NodeProfileDaemon {
        let events = EventRecorder(client: client, component: "selinuxprofile", host: identity.nodeName, logger: logger)
        return NodeProfileDaemon(
            client: client, identity: identity, name: "\(Profile.kind.lowercased())-spod", workers: workers, reflector: reflector,
            metricsFactory: metricsFactory, logger: logger,
            reconciler: { profiles, spods, nodeStatus, queue, index in
                SelinuxProfileReconciler(
                    profiles: profiles, nodeStatus: nodeStatus, committer: committer, queue: queue, events: events, metricsFactory: metricsFactory,
                    cil: { profile in
                        let allowed = spods.get(name: identity.spodName, namespace: identity.operatorNamespace)?.spec?.selinuxOptions?.allowedSystemProfiles
                        return profile.validatedCIL(allowedSystemProfiles: allowed ?? ["container"]) { name in
                            profiles.get(name: name, namespace: profile.metadata.namespace) != nil
                        }
                    },
                    installed: { profile in
                        for key in index.dependents(of: profile.key) { queue.add(key) }
                    })
            },
            // A parent's removal may have waited for this one to go, so both directions count.
            references: { profile in
                Set(profile.inheritedProfiles.map { ObjectKey(namespace: profile.metadata.namespace, name: $0) })
            })
    }
}
