import KubeModels
import Synchronization

/// A change a store applied, as informer handlers receive it.
public enum StoreDelta<Object: Sendable>: Sendable {
    case added(Object)
    case updated(old: Object, new: Object)
    case deleted(Object)
}

/// The thread-safe local cache of an informer: objects by key with a namespace index.
///
/// Objects are cached without `metadata.managedFields`: nothing reads them from a cache, a
/// real API server puts them on every object (often larger than the rest of its metadata), and
/// an update sent from a cached copy without them leaves the server's unchanged. A `transform`
/// can trim more (client-go's `SetTransform`); a trimmed copy must then never be written back.
public final class Store<Object: KubeResource>: Sendable {
    /// One cached object. Boxed: a dictionary keeps a slot for every bucket, up to twice as
    /// many as objects, and typed resources are a few hundred bytes wide.
    private final class Entry: Sendable {
        let object: Object
        init(_ object: Object) { self.object = object }
    }

    private struct Inner {
        var items: [ObjectKey: Entry] = [:]
        var byNamespace: [String: Set<ObjectKey>] = [:]

        mutating func insert(_ object: Object) -> Object? {
            let key = object.key
            let old = items.updateValue(Entry(object), forKey: key)?.object
            if old == nil { byNamespace[key.namespace ?? "", default: []].insert(key) }
            return old
        }

        mutating func remove(_ key: ObjectKey) -> Object? {
            guard let old = items.removeValue(forKey: key)?.object else { return nil }
            byNamespace[key.namespace ?? ""]?.remove(key)
            if byNamespace[key.namespace ?? ""]?.isEmpty == true { byNamespace.removeValue(forKey: key.namespace ?? "") }
            return old
        }
    }

    private let inner = Mutex(Inner())
    private let transform: (@Sendable (Object) -> Object)?

    /// - Parameter transform: applied to every object before it is cached.
    public init(transform: (@Sendable (Object) -> Object)? = nil) {
        self.transform = transform
    }

    public func get(_ key: ObjectKey) -> Object? { inner.withLock { $0.items[key]?.object } }

    public func get(name: String, namespace: String?) -> Object? { get(ObjectKey(namespace: namespace, name: name)) }

    /// All cached objects, or those of one namespace (by the index).
    public func list(namespace: String? = nil) -> [Object] {
        inner.withLock { inner in
            guard let namespace else { return inner.items.values.map(\.object) }
            return (inner.byNamespace[namespace] ?? []).compactMap { inner.items[$0]?.object }
        }
    }

    public var keys: [ObjectKey] { inner.withLock { Array($0.items.keys) } }

    public var count: Int { inner.withLock { $0.items.count } }

    /// Applies one watch event's object; returns what changed.
    public func upsert(_ object: Object) -> StoreDelta<Object> {
        let object = cacheable(object)
        return inner.withLock { inner in
            if let old = inner.insert(object) { return .updated(old: old, new: object) }
            return .added(object)
        }
    }

    private func cacheable(_ object: Object) -> Object {
        var object = object
        if object.metadata.managedFields != nil { object.metadata.managedFields = nil }
        return transform?(object) ?? object
    }

    /// Removes the object of a DELETED event; returns the delta (with the last known state
    /// when the event's copy is older), or `nil` when it was not cached.
    public func delete(_ object: Object) -> StoreDelta<Object>? {
        inner.withLock { inner in
            guard inner.remove(object.key) != nil else { return nil }
            return .deleted(object)
        }
    }

    /// Replaces the whole content with a fresh list. Returns adds for new keys, updates for
    /// keys whose resourceVersion changed, and deletes for keys that vanished; unchanged
    /// objects produce nothing, so a relist never repeats a state handlers already saw.
    public func replace(with objects: [Object]) -> [StoreDelta<Object>] {
        inner.withLock { inner in
            var deltas: [StoreDelta<Object>] = []
            var seen = Set<ObjectKey>()
            for object in objects.lazy.map(cacheable) {
                seen.insert(object.key)
                if let old = inner.insert(object) {
                    if old.metadata.resourceVersion != object.metadata.resourceVersion {
                        deltas.append(.updated(old: old, new: object))
                    }
                } else {
                    deltas.append(.added(object))
                }
            }
            for key in Array(inner.items.keys) where !seen.contains(key) {
                if let old = inner.remove(key) { deltas.append(.deleted(old)) }
            }
            return deltas
        }
    }
}
