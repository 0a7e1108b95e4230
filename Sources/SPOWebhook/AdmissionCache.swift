import KubeClient
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import SPOWebhookKit
import ServiceLifecycle

/// What the webhooks answer from: informer caches of every namespace's ProfileBindings and
/// ProfileRecordings, and of the profiles bindings name, trimmed to their metadata and status
/// (the webhook never needs a profile's spec). No API read per admission on the happy path.
public final class AdmissionCache: Sendable {
    public let bindings: Informer<ProfileBinding>
    public let recordings: Informer<ProfileRecording>
    let seccompProfiles: Informer<SeccompProfile>
    let selinuxProfiles: Informer<SelinuxProfile>
    let appArmorProfiles: Informer<AppArmorProfile>
    let client: KubernetesClient

    public init(client: KubernetesClient, logger: Logger) {
        self.client = client
        bindings = Informer(client: client.resource(ProfileBinding.self), logger: logger)
        recordings = Informer(client: client.resource(ProfileRecording.self), logger: logger)
        seccompProfiles = Informer(client: client.resource(SeccompProfile.self), transform: { profile in
            var trimmed = SeccompProfile(metadata: Self.trim(profile.metadata), spec: .init(defaultAction: nil))
            trimmed.status = profile.status
            return trimmed
        }, logger: logger)
        selinuxProfiles = Informer(client: client.resource(SelinuxProfile.self), transform: { profile in
            var trimmed = profile
            trimmed.metadata = Self.trim(profile.metadata)
            trimmed.spec = nil
            return trimmed
        }, logger: logger)
        appArmorProfiles = Informer(client: client.resource(AppArmorProfile.self), transform: { profile in
            var trimmed = profile
            trimmed.metadata = Self.trim(profile.metadata)
            trimmed.spec = nil
            return trimmed
        }, logger: logger)
    }

    /// The informers, to run as services.
    public var informers: [any Service] { [bindings, recordings, seccompProfiles, selinuxProfiles, appArmorProfiles] }

    public var hasSynced: Bool {
        bindings.hasSynced && recordings.hasSynced && seccompProfiles.hasSynced && selinuxProfiles.hasSynced && appArmorProfiles.hasSynced
    }

    /// A profile's state from the cache.
    func cachedState(_ kind: BoundProfileKind, name: String, namespace: String) -> BoundProfileState {
        let key = ObjectKey(namespace: namespace, name: name)
        switch kind {
        case .seccompProfile:
            return Self.state(seccompProfiles.store.get(key).map { ($0.status?.status, $0.status?.localhostProfile) }, fallback: SeccompProfile.localhostProfile(namespace: namespace, name: name))
        case .selinuxProfile:
            return Self.state(selinuxProfiles.store.get(key).map { ($0.status?.status, $0.status?.usage) }, fallback: "\(name)_\(namespace).process")
        case .appArmorProfile:
            // The shipped AppArmorProfile CRD of upstream keeps no status: an existing profile is ready.
            return appArmorProfiles.store.get(key) == nil ? .missing : .ready(reference: name)
        default:
            return .missing
        }
    }

    /// A profile the cache does not have, read from the API once (the cache may lag a profile
    /// created moments ago); a read that fails is reported, never taken for "missing".
    func liveState(_ kind: BoundProfileKind, name: String, namespace: String) async throws -> BoundProfileState {
        do {
            switch kind {
            case .seccompProfile:
                let profile = try await client.resource(SeccompProfile.self).get(name, namespace: namespace)
                return Self.state((profile.status?.status, profile.status?.localhostProfile), fallback: SeccompProfile.localhostProfile(namespace: namespace, name: name))
            case .selinuxProfile:
                let profile = try await client.resource(SelinuxProfile.self).get(name, namespace: namespace)
                return Self.state((profile.status?.status, profile.status?.usage), fallback: "\(name)_\(namespace).process")
            case .appArmorProfile:
                _ = try await client.resource(AppArmorProfile.self).get(name, namespace: namespace)
                return .ready(reference: name)
            default:
                return .missing
            }
        } catch let error as KubeAPIError where error.isNotFound {
            return .missing
        }
    }

    private static func state(_ found: (ProfileState?, String?)?, fallback: String) -> BoundProfileState {
        guard let (status, reference) = found else { return .missing }
        guard let status, !status.rawValue.isEmpty else { return .uninitialized }
        return .ready(reference: reference.flatMap { $0.isEmpty ? nil : $0 } ?? fallback)
    }

    private static func trim(_ metadata: ObjectMeta) -> ObjectMeta {
        var trimmed = ObjectMeta(name: metadata.name, namespace: metadata.namespace)
        trimmed.resourceVersion = metadata.resourceVersion
        trimmed.uid = metadata.uid
        trimmed.deletionTimestamp = metadata.deletionTimestamp
        return trimmed
    }
}
