import KubeModels
import Synchronization

/// Which objects refer to which targets (a SeccompProfile to its `baseProfileName`, a pod to
/// the profiles it uses), kept by an informer's handlers, so that an event finds the objects
/// that refer to a target without scanning a store.
public final class ReferenceIndex<Target: Hashable & Sendable>: Sendable {
    private let state = Mutex<(references: [ObjectKey: Set<Target>], dependents: [Target: Set<ObjectKey>])>(([:], [:]))

    public init() {}

    /// Records that `key` refers to `references`, replacing what it referred to before, which
    /// it returns.
    @discardableResult
    public func set(_ key: ObjectKey, references: Set<Target>) -> Set<Target> {
        state.withLock { state in
            let old = state.references[key] ?? []
            guard old != references else { return old }
            for target in old.subtracting(references) {
                state.dependents[target]?.remove(key)
                if state.dependents[target]?.isEmpty == true { state.dependents.removeValue(forKey: target) }
            }
            for target in references.subtracting(old) { state.dependents[target, default: []].insert(key) }
            state.references[key] = references.isEmpty ? nil : references
            return old
        }
    }

    /// Forgets `key`; returns what it referred to.
    @discardableResult
    public func remove(_ key: ObjectKey) -> Set<Target> { set(key, references: []) }

    /// The objects that refer to `target`.
    public func dependents(of target: Target) -> Set<ObjectKey> { state.withLock { $0.dependents[target] ?? [] } }
}
