import KubeModels
import SPOAPI

/// What a ProfileBinding needs to know about the profile it names, from the webhook's cache.
public enum BoundProfileState: Hashable, Sendable {
    /// No such profile in the binding's namespace.
    case missing
    /// The profile exists but has no `status.status` yet: no node has reported on it.
    case uninitialized
    /// The profile exists and has a status; `reference` is what pods name it by: the
    /// SeccompProfile's `status.localhostProfile`, the SelinuxProfile's `status.usage`, the
    /// AppArmorProfile's name.
    case ready(reference: String)
}

/// The ProfileBinding webhook's decision for one pod (reference §5.8, with two changes: a
/// missing profile rejects only the pods the binding would change, with a message naming both,
/// and AppArmorProfile bindings set the GA `securityContext.appArmorProfile`).
///
/// Pure: the bindings of the pod's namespace and a profile lookup in, the mutated pod or a
/// refusal out. Existing settings are never overridden; a container's image must equal a
/// binding's `image` exactly; `*` bindings set the pod-level field, and only when no
/// image-specific binding changed the pod.
public enum BindingMutation {
    public enum Decision: Hashable, Sendable {
        /// Admit `pod` (unchanged when no binding applied); `applied` names the bindings that changed it.
        case admit(pod: JSONValue, applied: [String])
        /// Refuse the pod.
        case deny(message: String)
    }

    /// - Parameters:
    ///   - pod: the pod under admission.
    ///   - namespace: its namespace (the bindings' and profiles' namespace).
    ///   - bindings: the namespace's ProfileBindings.
    ///   - profile: the state of a profile of the namespace.
    public static func decide(
        pod: JSONValue, namespace: String, bindings: [ProfileBinding], profile: (BoundProfileKind, String) -> BoundProfileState
    ) -> Decision {
        let usable = bindings
            .filter { $0.metadata.deletionTimestamp == nil && $0.spec?.profileRef?.kind.map(BoundProfileKind.allowed.contains) == true }
            .sorted { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }
        var mutated = pod
        var applied: [String] = []
        let containers = PodContainers.all(in: pod)
        for binding in usable where binding.spec?.image != "*" {
            guard let setting = Setting(binding, namespace: namespace) else { continue }
            let targets = containers.filter { $0.image == binding.spec?.image && !PodContainers.isSet(PodContainers.securityContext(mutated, $0.location, setting.field)) }
            guard !targets.isEmpty else { continue }
            let reference: String
            switch resolve(binding, setting, namespace: namespace, profile: profile) {
            case .success(let value): reference = value
            case .failure(let refusal): return .deny(message: refusal.message)
            }
            for target in targets { PodContainers.setSecurityContext(&mutated, target.location, setting.field, setting.value(reference)) }
            applied.append(binding.metadata.name ?? "")
        }
        if applied.isEmpty {
            for binding in usable where binding.spec?.image == "*" {
                guard let setting = Setting(binding, namespace: namespace),
                      !PodContainers.isSet(mutated[path: ["spec", "securityContext", setting.field]])
                else { continue }
                switch resolve(binding, setting, namespace: namespace, profile: profile) {
                case .success(let reference): mutated[path: ["spec", "securityContext", setting.field]] = setting.value(reference)
                case .failure(let refusal): return .deny(message: refusal.message)
                }
                applied.append(binding.metadata.name ?? "")
                break
            }
        }
        return .admit(pod: mutated, applied: applied)
    }

    /// The `securityContext` field a binding sets and how its value is built from the
    /// profile's reference.
    struct Setting {
        var kind: BoundProfileKind
        var profile: String
        var field: String

        init?(_ binding: ProfileBinding, namespace: String) {
            guard let kind = binding.spec?.profileRef?.kind, let name = binding.spec?.profileRef?.name, !name.isEmpty else { return nil }
            self.kind = kind
            profile = name
            switch kind {
            case .seccompProfile: field = "seccompProfile"
            case .selinuxProfile: field = "seLinuxOptions"
            case .appArmorProfile: field = "appArmorProfile"
            default: return nil
            }
        }

        func value(_ reference: String) -> JSONValue {
            switch field {
            case "seLinuxOptions": ["type": .string(reference)]
            default: ["type": "Localhost", "localhostProfile": .string(reference)]
            }
        }
    }

    struct Refusal: Error {
        var message: String
    }

    private static func resolve(
        _ binding: ProfileBinding, _ setting: Setting, namespace: String, profile: (BoundProfileKind, String) -> BoundProfileState
    ) -> Result<String, Refusal> {
        let why: String
        switch profile(setting.kind, setting.profile) {
        case .ready(let reference): return .success(reference)
        case .missing: why = "which does not exist in namespace \(namespace): create it or delete the binding"
        case .uninitialized: why = "which no node has reported on yet (its status is empty): retry once it has one"
        }
        let image = binding.spec?.image == "*" ? "every image" : "image \"\(binding.spec?.image ?? "")\""
        return .failure(Refusal(message: "ProfileBinding \(namespace)/\(binding.metadata.name ?? "") binds \(image) to \(setting.kind.rawValue) \(setting.profile), \(why)"))
    }
}

extension BindingMutation {
    /// What a binding sets, as pods carry it: the SeccompProfile's `localhostProfile`, the
    /// SelinuxProfile's `seLinuxOptions.type` or the AppArmorProfile's name, derived from the
    /// names as the profiles' statuses state them.
    public static func reference(of binding: ProfileBinding, namespace: String) -> String? {
        guard let name = binding.spec?.profileRef?.name, !name.isEmpty else { return nil }
        switch binding.spec?.profileRef?.kind {
        case .seccompProfile?: return SeccompProfile.localhostProfile(namespace: namespace, name: name)
        case .selinuxProfile?: return "\(name)_\(namespace).process"
        case .appArmorProfile?: return name
        default: return nil
        }
    }

    /// Whether `pod` runs with what `binding` sets where it sets it: a container of the
    /// binding's image with the profile in its security context, or for `*` the pod-level
    /// setting. Level-based, so it holds for pods the webhook mutated, whatever happened to the
    /// admission request (a retry, a dry run, a later rejection), and for none it did not.
    public static func isBound(_ pod: JSONValue, to binding: ProfileBinding, namespace: String) -> Bool {
        guard let setting = Setting(binding, namespace: namespace), let reference = reference(of: binding, namespace: namespace) else { return false }
        let value = setting.value(reference)
        if binding.spec?.image == "*" { return pod[path: ["spec", "securityContext", setting.field]] == value }
        return PodContainers.all(in: pod).contains { container in
            container.image == binding.spec?.image && PodContainers.securityContext(pod, container.location, setting.field) == value
        }
    }
}
