import KubeClient
import KubeModels
import KubeRuntime
import Logging

extension NodePodIndex {
    /// An informer over the pods scheduled to `node` (field selector `spec.nodeName`) that keeps
    /// this index current; run it as a service next to the enricher.
    public func informer(client: KubernetesClient, node: String, logger: Logger) -> Informer<Pod> {
        let informer = Informer<Pod>(client: client.resource(Pod.self), fieldSelector: "spec.nodeName=\(node)", logger: logger)
        informer.addHandler(InformerHandler(
            onAdd: { [self] in update($0) },
            onUpdate: { [self] _, new in update(new) },
            onDelete: { [self] in remove($0) }))
        return informer
    }
}
