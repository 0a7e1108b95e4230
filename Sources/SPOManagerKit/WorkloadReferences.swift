import KubeModels
import SPOAPI

/// Which profiles a pod uses (reference §2.6). Any phase counts while the pod object exists.
public struct WorkloadReferences: Hashable, Sendable {
    /// SeccompProfiles as namespace/name, from `Localhost` paths `operator/<ns>/<name>.json`
    /// (so a pod may use another namespace's profile).
    public var seccompProfiles: Set<ObjectKey> = []
    /// SELinux types (`<name>_<namespace>.process`) from pod- or container-level `seLinuxOptions`.
    public var selinuxTypes: Set<String> = []

    public static let legacyPodAnnotation = "seccomp.security.alpha.kubernetes.io/pod"

    public init(pod: Pod) {
        let spec = pod.spec ?? .null
        let containers = (spec["containers"]?.arrayValue ?? []) + (spec["initContainers"]?.arrayValue ?? [])
            + (spec["ephemeralContainers"]?.arrayValue ?? [])
        let contexts = [spec["securityContext"]] + containers.map { $0["securityContext"] }
        for context in contexts.compactMap({ $0 }) {
            if context[path: ["seccompProfile", "type"]]?.stringValue == "Localhost",
               let path = context[path: ["seccompProfile", "localhostProfile"]]?.stringValue,
               let key = Self.operatorProfile(path) {
                seccompProfiles.insert(key)
            }
            if let type = context[path: ["seLinuxOptions", "type"]]?.stringValue, !type.isEmpty {
                selinuxTypes.insert(type)
            }
        }
        if let legacy = pod.metadata.annotations?[Self.legacyPodAnnotation], legacy.hasPrefix("localhost/"),
           let key = Self.operatorProfile(String(legacy.dropFirst("localhost/".count))) {
            seccompProfiles.insert(key)
        }
    }

    /// `operator/<ns>/<name>.json` → the profile's key; anything else → `nil`.
    static func operatorProfile(_ path: String) -> ObjectKey? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "operator", parts[2].hasSuffix(".json"), !parts[1].isEmpty else { return nil }
        let name = parts[2].dropLast(".json".count)
        guard !name.isEmpty else { return nil }
        return ObjectKey(namespace: String(parts[1]), name: String(name))
    }
}
