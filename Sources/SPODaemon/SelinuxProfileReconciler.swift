import CoreMetrics
import KubeClient
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import SelinuxKit
import SelinuxNode

/// A profile kind installed as the SELinux module `<name>_<namespace>`: SelinuxProfile and
/// RawSelinuxProfile.
public protocol SelinuxModuleProfile: KubeResource, Hashable, Validatable {
    var isDisabled: Bool { get }
    /// The SelinuxProfiles (same namespace) whose modules this one's module inherits.
    var inheritedProfiles: [String] { get }
    /// The module's CIL (see ``SelinuxPolicy``); call on a validated object.
    func moduleCIL(allowedSystemProfiles: [String], profileExists: (String) -> Bool) throws(SelinuxPolicy.Problem) -> String
}

extension SelinuxModuleProfile {
    /// The module's CIL after validating the object, or everything wrong with it.
    func validatedCIL(allowedSystemProfiles: [String], profileExists: (String) -> Bool) -> Result<String, SelinuxPolicy.Problem> {
        let problems = validate()
        if !problems.isEmpty { return .failure(SelinuxPolicy.Problem(problems.map(\.description).joined(separator: "; "))) }
        return Result { () throws(SelinuxPolicy.Problem) -> String in
            try moduleCIL(allowedSystemProfiles: allowedSystemProfiles, profileExists: profileExists)
        }
    }
}

extension SelinuxProfile: SelinuxModuleProfile {
    public var isDisabled: Bool { spec?.disabled == true }
    public var inheritedProfiles: [String] {
        (spec?.inherit ?? []).filter { $0.kind == .selinuxProfile }.compactMap(\.name)
    }
    public func moduleCIL(allowedSystemProfiles: [String], profileExists: (String) -> Bool) throws(SelinuxPolicy.Problem) -> String {
        try SelinuxPolicy.cil(for: self, allowedSystemProfiles: allowedSystemProfiles, profileExists: profileExists)
    }
}

extension RawSelinuxProfile: SelinuxModuleProfile {
    public var isDisabled: Bool { spec?.disabled == true }
    public var inheritedProfiles: [String] { [] }
    public func moduleCIL(allowedSystemProfiles: [String], profileExists: (String) -> Bool) throws(SelinuxPolicy.Problem) -> String {
        try SelinuxPolicy.cil(for: self)
    }
}

/// Installs one SELinux profile kind into this node's policy store through libsemanage
/// (reference §3.9, in process instead of through selinuxd): the profile's CIL module is
/// installed, upgraded when the CIL changes and removed on delete or `disabled`, with node
/// status `InProgress` until the commit is done. Reconciles never wait for a commit: they
/// submit the change to the ``SelinuxModuleCommitter`` and run again when it is committed.
///
/// Deviations from upstream: the `in-use-by-active-pods` finalizer holds the removal while pods
/// use the type; success (`SavedSelinuxPolicy`, `selinux_profile_total` `update`) is reported
/// once per commit, not on every resync; a profile that inherits from a SelinuxProfile not yet
/// installed on this node waits for it (`Pending`) instead of failing its commit; a module the
/// store refused is not submitted again until its CIL changes.
public struct SelinuxProfileReconciler<Profile: SelinuxModuleProfile>: Reconciler {
    public typealias Reason = OperatorMetric.SelinuxErrorReason
    let profiles: Store<Profile>
    let report: NodeProfileReport<Profile, Reason>
    let committer: SelinuxModuleCommitter
    let queue: WorkQueue<ObjectKey>
    /// The module's CIL, or why there is none (validation and translation).
    let cil: @Sendable (Profile) -> Result<String, SelinuxPolicy.Problem>
    /// Called after `profile`'s module was installed, so profiles that inherit from it follow.
    let installed: @Sendable (Profile) -> Void
    var nodeName: String { report.nodeStatus.identity.nodeName }

    public init(
        profiles: Store<Profile>, nodeStatus: NodeProfileStatus<Profile>, committer: SelinuxModuleCommitter, queue: WorkQueue<ObjectKey>,
        events: EventRecorder, metricsFactory: (any MetricsFactory)? = nil,
        cil: @escaping @Sendable (Profile) -> Result<String, SelinuxPolicy.Problem>,
        installed: @escaping @Sendable (Profile) -> Void = { _ in }
    ) {
        self.profiles = profiles
        self.committer = committer
        self.queue = queue
        self.cil = cil
        self.installed = installed
        self.report = NodeProfileReport(
            nodeStatus: nodeStatus, events: events,
            counters: ProfileCounters(operations: .selinuxProfile, errors: .selinuxProfileError, factory: metricsFactory ?? MetricsSystem.factory))
    }

    public func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult {
        guard let namespace = key.namespace, let profile = profiles.get(key) else { return .done }
        let moduleName = SelinuxPolicy.moduleName(name: key.name, namespace: namespace)
        var logger = logger
        logger[metadataKey: "spo.selinux.module"] = "\(moduleName)"
        let module: SelinuxModuleCommitter.Module
        switch await committer.module(moduleName) {
        case .success(let known): module = known
        case .failure(let error) where error.storeMissing && profile.metadata.deletionTimestamp != nil:
            // Nothing can be installed on a node without a store: nothing holds the deletion.
            module = SelinuxModuleCommitter.Module(installed: nil, queued: nil, failed: nil, fresh: false)
        case .failure(let error):
            try await report.failed(profile, .cannotGetStatus, "Cannot read the policy store on \(nodeName): \(error)")
            throw error
        }

        if profile.metadata.deletionTimestamp != nil {
            var removal = Removal.gone
            let released = try await report.nodeStatus.delete(profile) {
                removal = await remove(moduleName, module, key: key, logger: logger)
                return removal == .gone
            }
            if case .failed(let error) = removal {
                await report.events.record(profile, type: .warning, reason: Reason.cannotRemove.rawValue, message: "Failed to remove policy from \(nodeName): \(error)")
                return .requeueAfter(Self.removalRetry)
            }
            if released {
                report.forget(profile)
                logger.info("selinux.profile.removed")
            }
            return .done
        }

        // A profile deleted before this node claimed it: its deletion arrives as an event.
        guard try await report.nodeStatus.claim(profile) else { return .done }
        if profile.isDisabled || profile.metadata.labels?[SPOMetadata.partialLabel] != nil {
            switch await remove(moduleName, module, key: key, logger: logger) {
            case .gone: try await report.succeeded(profile, profile.isDisabled ? .disabled : .partial)
            case .underway: break
            case .failed(let error):
                try await report.failed(profile, .cannotRemove, "Failed to remove policy from \(nodeName): \(error)")
                return .requeueAfter(Self.removalRetry)
            }
            return .done
        }
        let policy: String
        switch cil(profile) {
        case .success(let text): policy = text
        case .failure(let problem):
            try await report.failed(profile, .cannotSave, "Profile failed validation on \(nodeName): \(problem)")
            return .done
        }

        if module.queued == .some(policy) {
            try await report.nodeStatus.write(.inProgress, for: profile)
        } else if module.installed == policy, module.queued == nil {
            if module.fresh {
                logger.info("selinux.profile.installed")
                try await report.succeeded(profile, .installed, event: ("SavedSelinuxPolicy", "Successfully saved profile to disk on \(nodeName)"))
                await committer.reported(moduleName)
                installed(profile)
            } else {
                try await report.succeeded(profile, .installed)
            }
        } else if let failed = module.failed, failed.cil == policy {
            logger.warning("selinux.profile.rejected", metadata: ["error": "\(failed.error)"])
            try await report.failed(profile, .cannotSave, "Failed to save profile to disk on \(nodeName): \(failed.error)")
        } else if let parent = await missingParent(of: profile, namespace: namespace) {
            try await report.nodeStatus.write(.pending, message: "waiting for SelinuxProfile \(parent) to be installed on \(nodeName)", for: profile)
        } else {
            try await report.nodeStatus.write(.inProgress, for: profile)
            await committer.submit(moduleName, cil: policy) { [queue] in queue.add(key) }
        }
        return .done
    }

    /// The first SelinuxProfile this one inherits whose module is not installed yet.
    private func missingParent(of profile: Profile, namespace: String) async -> String? {
        for parent in profile.inheritedProfiles {
            if case .success(let module) = await committer.module(SelinuxPolicy.moduleName(name: parent, namespace: namespace)), module.installed == nil {
                return parent
            }
        }
        return nil
    }

    /// Where the removal of a module stands.
    enum Removal: Equatable {
        case gone
        case underway
        /// The store refused (e.g. another module inherits from it); tried again later.
        case failed(SelinuxStoreError)
    }

    /// How long a module the store refused to remove waits before it is tried again (modules
    /// that inherit from it may be gone by then).
    static var removalRetry: Duration { .seconds(30) }

    /// Submits the removal of `module` when it is installed.
    private func remove(_ name: String, _ module: SelinuxModuleCommitter.Module, key: ObjectKey, logger: Logger) async -> Removal {
        if module.installed == nil, module.queued == nil {
            if module.fresh {
                report.counters.profileChanged(.delete)
                logger.info("selinux.profile.uninstalled")
                await committer.reported(name)
            }
            return .gone
        }
        if let failed = module.failed, failed.cil == nil, module.queued == nil {
            report.counters.error(.cannotRemove)
            logger.warning("selinux.profile.removal_failed", metadata: ["error": "\(failed.error)"])
            await committer.forgetFailure(name)
            return .failed(failed.error)
        }
        if module.queued != .some(nil) {
            await committer.submit(name, cil: nil) { [queue] in queue.add(key) }
        }
        return .underway
    }
}
