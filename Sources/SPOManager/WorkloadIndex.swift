import KubeModels
import KubeRuntime
import SPOAPI
import SPOManagerKit
import Synchronization

/// Which pods use which profile, kept current by the pod informer: each pod's references are
/// parsed once per change, and tracking one profile's workloads reads its own pods instead of
/// parsing every pod of the cluster (1,000 profiles × 10,000 pods would otherwise cost ten
/// million parses per resync).
public final class WorkloadIndex: Sendable {
    /// The profile kinds pods are tracked for.
    public enum Kind: Hashable, Sendable {
        /// SeccompProfiles, by `Localhost` path or the legacy annotation (any namespace).
        case seccomp
        /// SelinuxProfiles, by `<name>_<namespace>.process` types (the pod's own namespace).
        case selinux
    }

    /// A profile some pod refers to.
    public struct Reference: Hashable, Sendable {
        public var kind: Kind
        public var profile: ObjectKey

        public init(kind: Kind, profile: ObjectKey) {
            self.kind = kind
            self.profile = profile
        }
    }

    private let users = Mutex<[Reference: Set<ObjectKey>]>([:])

    public init() {}

    /// The profiles `pod` refers to.
    public static func references(of pod: Pod) -> Set<Reference> {
        let parsed = WorkloadReferences(pod: pod)
        var references = Set(parsed.seccompProfiles.map { Reference(kind: .seccomp, profile: $0) })
        let namespace = pod.metadata.namespace ?? ""
        let suffix = "_\(namespace).process"
        for type in parsed.selinuxTypes where type.hasSuffix(suffix) && type.count > suffix.count {
            references.insert(Reference(kind: .selinux, profile: ObjectKey(namespace: namespace, name: String(type.dropLast(suffix.count)))))
        }
        return references
    }

    /// Handlers for the pod informer; `changed` is called, after the index is updated, for
    /// every profile a pod referred to before or after a change.
    public func handler(changed: @escaping @Sendable (Reference) -> Void) -> InformerHandler<Pod> {
        InformerHandler(
            onAdd: { pod in
                let references = Self.references(of: pod)
                self.update(pod.key, removing: [], adding: references)
                references.forEach(changed)
            },
            onUpdate: { old, new in
                let (before, after) = (Self.references(of: old), Self.references(of: new))
                self.update(new.key, removing: before.subtracting(after), adding: after)
                before.union(after).forEach(changed)
            },
            onDelete: { pod in
                let references = Self.references(of: pod)
                self.update(pod.key, removing: references, adding: [])
                references.forEach(changed)
            })
    }

    private func update(_ pod: ObjectKey, removing: Set<Reference>, adding: Set<Reference>) {
        users.withLock { users in
            for reference in removing {
                users[reference]?.remove(pod)
                if users[reference]?.isEmpty == true { users[reference] = nil }
            }
            for reference in adding { users[reference, default: []].insert(pod) }
        }
    }

    /// The pods that use `profile`.
    public func pods(using profile: SeccompProfile) -> Set<ObjectKey> {
        pods(using: Reference(kind: .seccomp, profile: profile.key))
    }

    /// The pods that use `profile`: those of its namespace whose type is
    /// `<name>_<namespace>.process`, once the profile carries the profile-id label (as upstream
    /// requires: before that, no node has installed it).
    public func pods(using profile: SelinuxProfile) -> Set<ObjectKey> {
        guard profile.metadata.labels?[SPOMetadata.profileIDLabel] != nil else { return [] }
        return pods(using: Reference(kind: .selinux, profile: profile.key))
    }

    private func pods(using reference: Reference) -> Set<ObjectKey> {
        users.withLock { $0[reference] ?? [] }
    }
}
