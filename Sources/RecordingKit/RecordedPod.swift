import AuditKit
import KubeModels
import SPOAPI

/// What a pod on this node is recorded for (reference §5.3): one entry per container the
/// recording webhook annotated, with the container's runtime id once it started. Pure: read
/// from the pod object alone.
public struct RecordedPod: Hashable, Sendable, Codable {
    /// One annotated container.
    public struct Container: Hashable, Sendable, Codable {
        public var annotation: RecordingAnnotation
        /// The 64-hex runtime id from the pod's status; nil until the container started.
        public var containerID: String?
        public var isInit: Bool

        public var name: String { annotation.container }
        /// The annotation value: the key of everything recorded for this container.
        public var recordingKey: String { annotation.value }
    }

    public var namespace: String
    public var name: String
    public var uid: String
    public var phase: String
    public var containers: [Container]
    /// Annotation values that are not recordings (kept to report them once).
    public var unparseable: [String: String]
    /// `<name minus generateName>` when the pod was named from a `generateName` (a replica).
    public var replicaSuffix: String?

    /// Nil when the pod carries no recording annotation at all.
    public init?(_ pod: Pod) {
        let annotations = pod.metadata.annotations ?? [:]
        let recordingKeys = annotations.filter { key, _ in RecordingAnnotation.Method.allCases.contains { key.hasPrefix($0.prefix) } }
        guard !recordingKeys.isEmpty else { return nil }
        namespace = pod.metadata.namespace ?? ""
        name = pod.metadata.name ?? ""
        uid = pod.metadata.uid ?? ""
        phase = pod.status?["phase"]?.stringValue ?? "Pending"
        var ids: [String: (String, Bool)] = [:]
        for (field, isInit) in [("initContainerStatuses", true), ("containerStatuses", false)] {
            for status in pod.status?[field]?.arrayValue ?? [] {
                guard let container = status["name"]?.stringValue else { continue }
                let id = status["containerID"]?.stringValue.flatMap(ContainerIDs.fromStatus)
                ids[container] = (id ?? "", isInit)
            }
        }
        let initNames = Set((pod.spec?["initContainers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue })
        var containers: [Container] = []
        var unparseable: [String: String] = [:]
        for (key, value) in recordingKeys.sorted(by: { $0.key < $1.key }) {
            guard let annotation = RecordingAnnotation(key: key, value: value) else {
                unparseable[key] = value
                continue
            }
            let id = ids[annotation.container].flatMap { $0.0.isEmpty ? nil : $0.0 }
            containers.append(Container(annotation: annotation, containerID: id, isInit: initNames.contains(annotation.container)))
        }
        self.containers = containers
        self.unparseable = unparseable
        if let prefix = pod.metadata.generateName, !prefix.isEmpty, name.hasPrefix(prefix), name.count > prefix.count {
            replicaSuffix = String(name.dropFirst(prefix.count))
        }
    }

    /// Whether the pod's recording is due: it was deleted or it succeeded (reference §5.3;
    /// a failed pod keeps running its restart policy's course and is collected when deleted).
    public static func isFinished(_ pod: Pod) -> Bool {
        pod.metadata.deletionTimestamp != nil || pod.status?["phase"]?.stringValue == "Succeeded"
    }

    /// The profile a container's recording becomes: `<recording>-<container>`, plus the
    /// replica suffix for pods of a controller.
    public func profileName(for container: Container) -> String {
        let base = "\(container.annotation.recording)-\(container.name)"
        return replicaSuffix.map { "\(base)-\($0)" } ?? base
    }
}
