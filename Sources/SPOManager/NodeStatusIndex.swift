import KubeModels
import KubeRuntime
import SPOAPI
import Synchronization

/// Node statuses by namespace and `spo.x-k8s.io/profile-id`, kept current by the node-status
/// informer, so that aggregating one profile reads its own statuses instead of scanning the
/// namespace (1,000 profiles × 10 nodes would otherwise cost 10,000 label checks per reconcile).
public final class NodeStatusIndex: Sendable {
    struct Entry: Hashable {
        var namespace: String?
        var profileID: String
    }

    private let entries = Mutex<[Entry: Set<ObjectKey>]>([:])

    public init() {}

    static func entry(_ status: SecurityProfileNodeStatus) -> Entry? {
        status.metadata.labels?[SPOMetadata.profileIDLabel].map { Entry(namespace: status.metadata.namespace, profileID: $0) }
    }

    /// Handlers for the node-status informer.
    public func handler() -> InformerHandler<SecurityProfileNodeStatus> {
        InformerHandler(
            onAdd: { self.insert($0) },
            onUpdate: { old, new in
                if Self.entry(old) != Self.entry(new) { self.remove(old) }
                self.insert(new)
            },
            onDelete: { self.remove($0) })
    }

    func insert(_ status: SecurityProfileNodeStatus) {
        guard let entry = Self.entry(status) else { return }
        _ = entries.withLock { $0[entry, default: []].insert(status.key) }
    }

    func remove(_ status: SecurityProfileNodeStatus) {
        guard let entry = Self.entry(status) else { return }
        entries.withLock { entries in
            entries[entry]?.remove(status.key)
            if entries[entry]?.isEmpty == true { entries[entry] = nil }
        }
    }

    /// The keys of the node statuses with this profile id in `namespace`.
    public func keys(namespace: String?, profileID: String) -> Set<ObjectKey> {
        entries.withLock { $0[Entry(namespace: namespace, profileID: profileID)] ?? [] }
    }
}
