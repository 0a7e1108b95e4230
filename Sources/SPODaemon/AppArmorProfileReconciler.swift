import AppArmorKit
import AppArmorNode
import CoreMetrics
import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import Synchronization

/// What this process has loaded into the kernel: profile name → the namespace of the object it
/// came from and the text. AppArmor profile names are node-wide, so the name is the key.
public final class LoadedAppArmorProfiles: Sendable {
    private let profiles = Mutex<[String: (namespace: String, text: String)]>([:])

    public init() {}

    func get(_ name: String) -> (namespace: String, text: String)? { profiles.withLock { $0[name] } }
    func set(_ name: String, _ value: (namespace: String, text: String)?) { profiles.withLock { $0[name] = value } }
}

/// Loads every AppArmorProfile into this node's kernel (reference §3.9, with the deviations
/// the project chose): the text (`policy`, or `abstract` translated) is compiled with
/// `apparmor_parser` and loaded or replaced through libapparmor, replaced on change, removed on
/// delete or `disabled`. Status, finalizers and deletion are those of every profile kind.
///
/// Unlike upstream, success is reported (`LoadedAppArmorProfile`, `apparmor_profile_total`
/// `update`) once per change of the loaded text, and the node keeps the previous version of a
/// profile whose new text fails: removing it would leave running containers unconfined.
/// AppArmor profile names are node-wide: when two namespaces hold same-named profiles, the
/// older object owns the name and the other is an `Error` until it is renamed or the owner goes.
public struct AppArmorProfileReconciler: Reconciler {
    public typealias Reason = OperatorMetric.AppArmorErrorReason
    let profiles: Store<AppArmorProfile>
    let report: NodeProfileReport<AppArmorProfile, Reason>
    let loader: AppArmorLoader
    let loaded: LoadedAppArmorProfiles
    var nodeName: String { report.nodeStatus.identity.nodeName }

    public init(
        profiles: Store<AppArmorProfile>, nodeStatus: NodeProfileStatus<AppArmorProfile>, loader: AppArmorLoader,
        loaded: LoadedAppArmorProfiles = LoadedAppArmorProfiles(), events: EventRecorder, metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.profiles = profiles
        self.loader = loader
        self.loaded = loaded
        self.report = NodeProfileReport(
            nodeStatus: nodeStatus, events: events,
            counters: ProfileCounters(operations: .appArmorProfile, errors: .appArmorProfileError, factory: metricsFactory ?? MetricsSystem.factory))
    }

    public func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult {
        guard let namespace = key.namespace else { return .done }
        var logger = logger
        logger[metadataKey: "spo.apparmor.profile"] = "\(key.name)"
        guard let profile = profiles.get(key) else {
            // Gone without this node's finalizer: what we loaded for it goes too.
            if loaded.get(key.name)?.namespace == namespace { try unload(key.name, logger: logger) }
            return .done
        }
        if profile.metadata.deletionTimestamp != nil {
            let released = try await report.nodeStatus.delete(profile) {
                do {
                    if loaded.get(key.name)?.namespace ?? namespace == namespace { try unload(key.name, logger: logger) }
                } catch {
                    report.counters.error(.cannotUnload)
                    await report.events.record(profile, type: .warning, reason: Reason.cannotUnload.rawValue, message: "\(error)")
                    throw error
                }
                return true
            }
            if released {
                report.forget(profile)
                logger.info("apparmor.profile.removed")
            }
            return .done
        }

        // A profile deleted before this node claimed it: its deletion arrives as an event.
        guard try await report.nodeStatus.claim(profile) else { return .done }
        if profile.spec?.disabled == true || profile.metadata.labels?[SPOMetadata.partialLabel] != nil {
            if loaded.get(key.name)?.namespace == namespace { try unload(key.name, logger: logger) }
            try await report.succeeded(profile, profile.spec?.disabled == true ? .disabled : .partial)
            return .done
        }
        if let reason = loader.kernel.unsupportedReason() {
            try await report.failed(profile, .notSupportedOnNode, reason)
            return .done
        }
        let problems = profile.validate()
        if !problems.isEmpty {
            try await report.failed(profile, .cannotLoad, problems.map(\.description).joined(separator: "; "))
            return .done
        }
        if let owner = owner(ofName: key.name), owner.metadata.namespace != namespace {
            try await report.failed(profile, .cannotLoad, "AppArmor profile \(key.name) is already loaded from AppArmorProfile \(owner.metadata.namespace ?? "")/\(key.name): profile names are node-wide")
            return .done
        }
        guard let text = AppArmorProfileText.text(for: profile) else { return .done }
        if loaded.get(key.name)?.text == text {
            try await report.succeeded(profile, .installed)
            return .done
        }

        do {
            try await loader.load(name: key.name, text: text)
            loaded.set(key.name, (namespace, text))
            logger.info("apparmor.profile.loaded")
            try await report.succeeded(profile, .installed, event: ("LoadedAppArmorProfile", "Successfully loaded profile into the kernel on \(nodeName)"))
        } catch let error as AppArmorError {
            logger.warning("apparmor.profile.rejected", metadata: ["error": "\(error)"])
            let reason: Reason = error.kind == .notSupported ? .notSupportedOnNode : .cannotLoad
            try await report.failed(profile, reason, "\(error)")
            // The kernel's refusal may pass; a text that does not compile waits for a change.
            if error.kind == .kernel { throw error }
        }
        return .done
    }

    /// The profile that owns the node-wide name: the oldest live one (then by namespace).
    func owner(ofName name: String) -> AppArmorProfile? {
        profiles.keys.filter { $0.name == name }.compactMap(profiles.get).filter { $0.metadata.deletionTimestamp == nil }.min { a, b in
            let (ta, tb) = (a.metadata.creationTimestamp ?? "", b.metadata.creationTimestamp ?? "")
            return ta != tb ? ta < tb : (a.metadata.namespace ?? "") < (b.metadata.namespace ?? "")
        }
    }

    /// Removes `name` from the kernel; already gone (or no AppArmor here) is success.
    private func unload(_ name: String, logger: Logger) throws(AppArmorError) {
        do {
            try loader.unload(name: name)
            report.counters.profileChanged(.delete)
            logger.info("apparmor.profile.unloaded")
        } catch where error.kind == .notLoaded || error.kind == .notSupported {
            // Nothing to remove.
        }
        loaded.set(name, nil)
    }
}
