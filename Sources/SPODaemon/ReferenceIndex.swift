import KubeModels
import Synchronization

/// Which objects refer to which (a SeccompProfile to its `baseProfileName`, a SelinuxProfile
/// to the SelinuxProfiles it inherits), kept by an informer's handlers, so that an event finds
/// the objects that depend on the changed one without scanning the store.
final class ReferenceIndex: Sendable {
    private let state = Mutex<(references: [ObjectKey: Set<ObjectKey>], dependents: [ObjectKey: Set<ObjectKey>])>(([:], [:]))

    /// Records that `key` refers to `references` (replacing what it referred to before).
    func set(_ key: ObjectKey, references: Set<ObjectKey>) {
        state.withLock { state in
            let old = state.references[key] ?? []
            guard old != references else { return }
            for target in old.subtracting(references) { Self.unlink(key, from: target, in: &state.dependents) }
            for target in references.subtracting(old) { state.dependents[target, default: []].insert(key) }
            state.references[key] = references.isEmpty ? nil : references
        }
    }

    func remove(_ key: ObjectKey) { set(key, references: []) }

    /// The objects that refer to `key`.
    func dependents(of key: ObjectKey) -> Set<ObjectKey> { state.withLock { $0.dependents[key] ?? [] } }

    private static func unlink(_ key: ObjectKey, from target: ObjectKey, in dependents: inout [ObjectKey: Set<ObjectKey>]) {
        dependents[target]?.remove(key)
        if dependents[target]?.isEmpty == true { dependents.removeValue(forKey: target) }
    }
}
