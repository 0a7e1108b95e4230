/// The pod annotations through which the recording webhook tells the node's recorder what to
/// record (reference §5.2-§5.3): the key names the container and the way of recording, the
/// value `<recording>_<container>_<nonce>_<unix seconds>` identifies one recording of it.
public struct RecordingAnnotation: Hashable, Sendable, Codable {
    /// How a container is recorded.
    public enum Method: String, CaseIterable, Hashable, Sendable, Codable {
        /// Seccomp through the log enricher's audit records.
        case logs = "io.containers.trace-logs/"
        /// Seccomp through the eBPF recorder.
        case bpf = "io.containers.trace-bpf/"
        /// SELinux AVCs through the log enricher.
        case avcs = "io.containers.trace-avcs/"

        /// The key prefix.
        public var prefix: String { rawValue }

        /// The method a recording of `kind` with `recorder` uses; nil for SelinuxProfile with
        /// bpf, which cannot record (upstream writes an unprefixed annotation nothing reads).
        public init?(kind: ProfileKind?, recorder: ProfileRecorder?) {
            switch (kind, recorder) {
            case (.seccompProfile, .logs): self = .logs
            case (.seccompProfile, .bpf): self = .bpf
            case (.selinuxProfile, .logs): self = .avcs
            default: return nil
            }
        }
    }

    public var method: Method
    public var container: String
    public var recording: String
    public var nonce: String
    public var timestamp: Int64

    public init(method: Method, container: String, recording: String, nonce: String, timestamp: Int64) {
        self.method = method
        self.container = container
        self.recording = recording
        self.nonce = nonce
        self.timestamp = timestamp
    }

    /// The annotation key.
    public var key: String { method.prefix + container }

    /// The annotation value.
    public var value: String { "\(recording)_\(container)_\(nonce)_\(timestamp)" }

    /// The key for `container` recorded by `method`.
    public static func key(_ method: Method, container: String) -> String { method.prefix + container }

    /// Parses one annotation; nil when the key is not a recording key or the value is not
    /// exactly four `_`-separated parts with a numeric timestamp.
    public init?(key: String, value: String) {
        guard let method = Method.allCases.first(where: { key.hasPrefix($0.prefix) }) else { return nil }
        let container = String(key.dropFirst(method.prefix.count))
        let parts = value.split(separator: "_", omittingEmptySubsequences: false)
        guard !container.isEmpty, parts.count == 4, !parts[0].isEmpty, let timestamp = Int64(parts[3]) else { return nil }
        self.init(method: method, container: container, recording: String(parts[0]), nonce: String(parts[2]), timestamp: timestamp)
        // The value names the container it was written for.
        guard String(parts[1]) == container else { return nil }
    }

    /// Every recording annotation of a pod's annotations (unparseable ones are left out).
    public static func all(in annotations: [String: String]?) -> [RecordingAnnotation] {
        (annotations ?? [:]).compactMap { RecordingAnnotation(key: $0.key, value: $0.value) }.sorted { $0.key < $1.key }
    }
}

extension SPOMetadata {
    /// The seccomp profile the logs recorder runs containers under, in the operator namespace.
    public static let traceProfileName = "log-enricher-trace"
    /// The SELinux type the logs recorder runs containers under.
    public static let selinuxRecordingType = "selinuxrecording.process"
    /// Namespace labels that turn on the built-in webhooks (reference §5.1).
    public static let enableBindingLabel = "spo.x-k8s.io/enable-binding"
    public static let enableRecordingLabel = "spo.x-k8s.io/enable-recording"
}
