import KubeModels
import KubeRuntime
import SPOAPI
import SPOManagerKit

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

    /// Pods and the profiles they refer to.
    private let index = ReferenceIndex<Reference>()

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
        let update: @Sendable (Pod) -> Void = { pod in
            let references = Self.references(of: pod)
            self.index.set(pod.key, references: references).union(references).forEach(changed)
        }
        return InformerHandler(
            onAdd: update,
            onUpdate: { _, new in update(new) },
            onDelete: { pod in self.index.remove(pod.key).forEach(changed) })
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
        index.dependents(of: reference)
    }
}
