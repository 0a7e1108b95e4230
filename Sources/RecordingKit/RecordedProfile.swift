import KubeModels
import SPOAPI
import SeccompKit

/// Turning recorded activity into profiles (reference §5.3) and merging the partial profiles of
/// a `mergeStrategy: containers` recording (§5.6). Pure.
public enum RecordedProfile {
    /// An SELinux permission the kernel checked: the target context's type, the class, the permission.
    public struct AccessVector: Hashable, Sendable, Codable {
        public var targetType: String
        public var objectClass: String
        public var permission: String

        public init(targetType: String, objectClass: String, permission: String) {
            self.targetType = targetType
            self.objectClass = objectClass
            self.permission = permission
        }

        /// The vectors of one AVC record: its target context's type (the third `:` part) and
        /// class, each permission.
        public static func from(tcontext: String, tclass: String, permissions: [String]) -> [AccessVector] {
            let parts = tcontext.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count >= 3, !tclass.isEmpty else { return [] }
            return permissions.map { AccessVector(targetType: String(parts[2]), objectClass: tclass, permission: $0) }
        }
    }

    /// The labels and, with `mergeStrategy: containers`, the partial marker of a produced profile.
    public static func metadata(name: String, namespace: String, recording: String, container: String, partial: Bool) -> ObjectMeta {
        var labels = [SPOMetadata.recordingIDLabel: recording, SPOMetadata.containerIDLabel: container]
        if partial { labels[SPOMetadata.partialLabel] = "true" }
        return ObjectMeta(name: name, namespace: namespace, labels: labels)
    }

    /// What one seccomp log record of a recorded container adds to its recording: the syscall,
    /// and, when the record comes from the container runtime's own init process, every call that
    /// runtime may make after loading the filter (its built-in base). The runtime loads the
    /// recording's filter before it changes user, capabilities and directory, and some of its
    /// calls (a Go runtime's `futex` wake-up, a signal return) happen in some starts only: a
    /// profile with only what one start made would fail later starts of the same workload.
    public static func recordedSyscalls(name: String, executable: String, command: String) -> [String] {
        guard let runtime = BuiltInProfiles.runtimeSyscalls(executable: executable, command: command) else { return [name] }
        return [name] + runtime
    }

    /// A recorded SeccompProfile: errors by default, the recorded names allowed in one sorted
    /// rule, for the node's architecture.
    public static func seccomp(syscalls: Set<String>, architecture: SeccompArchitecture, disabled: Bool) -> SeccompProfile.Spec {
        SeccompProfile.Spec(
            defaultAction: .errno, disabled: disabled ? true : nil, architectures: [architecture],
            syscalls: syscalls.isEmpty ? nil : [.init(names: syscalls.sorted(), action: .allow)])
    }

    /// A recorded SelinuxProfile: inheriting the `container` system policy, allowing what was
    /// checked, the recording type itself written `@self`.
    public static func selinux(vectors: Set<AccessVector>, disabled: Bool) -> SelinuxProfile.Spec {
        var allow: [String: [String: [String]]] = [:]
        for vector in vectors {
            let label = vector.targetType == SPOMetadata.selinuxRecordingType ? "@self" : vector.targetType
            allow[label, default: [:]][vector.objectClass, default: []].append(vector.permission)
        }
        for (label, classes) in allow {
            for (objectClass, permissions) in classes { allow[label]?[objectClass] = Array(Set(permissions)).sorted() }
        }
        return SelinuxProfile.Spec(disabled: disabled ? true : nil, inherit: [.init(kind: .system, name: "container")], allow: allow)
    }

    /// Merged seccomp profiles: the first one's settings, one sorted allow rule with every
    /// allowed name (upstream concatenated the rules, duplicates and all), other rules kept once.
    public static func merged(_ specs: [SeccompProfile.Spec]) -> SeccompProfile.Spec? {
        guard var result = specs.first else { return nil }
        var allowed = Set<String>()
        var others: [SeccompProfile.Syscall] = []
        for spec in specs {
            for rule in spec.syscalls ?? [] {
                if rule.action == .allow, rule.args?.isEmpty ?? true, rule.errnoRet == nil {
                    allowed.formUnion(rule.names ?? [])
                } else if !others.contains(rule) {
                    others.append(rule)
                }
            }
        }
        let allow: [SeccompProfile.Syscall] = allowed.isEmpty ? [] : [.init(names: allowed.sorted(), action: .allow)]
        result.syscalls = (allow + others).isEmpty ? nil : allow + others
        return result
    }

    /// Merged SELinux profiles: the union of permissions per label and class.
    public static func merged(_ specs: [SelinuxProfile.Spec]) -> SelinuxProfile.Spec? {
        guard var result = specs.first else { return nil }
        var allow: [String: [String: Set<String>]] = [:]
        for spec in specs {
            for (label, classes) in spec.allow ?? [:] {
                for (objectClass, permissions) in classes { allow[label, default: [:]][objectClass, default: []].formUnion(permissions) }
            }
        }
        result.allow = allow.mapValues { $0.mapValues { $0.sorted() } }
        return result
    }
}
