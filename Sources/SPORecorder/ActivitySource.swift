import AuditKit
import RecordingKit
import SPOAPI
import SPOEnricher
import Synchronization

/// What was recorded for one container: syscall names (seccomp) or access vectors (SELinux).
public struct RecordedActivity: Hashable, Sendable, Codable {
    public var syscalls: Set<String> = []
    public var vectors: Set<RecordedProfile.AccessVector> = []

    public init(syscalls: Set<String> = [], vectors: Set<RecordedProfile.AccessVector> = []) {
        self.syscalls = syscalls
        self.vectors = vectors
    }

    public var isEmpty: Bool { syscalls.isEmpty && vectors.isEmpty }

    public func union(_ other: RecordedActivity) -> RecordedActivity {
        RecordedActivity(syscalls: syscalls.union(other.syscalls), vectors: vectors.union(other.vectors))
    }
}

/// One container being recorded: its annotation (the value is the recording's key) and, once
/// it started, its runtime id.
public struct TrackedContainer: Hashable, Sendable, Codable {
    public var annotation: RecordingAnnotation
    public var containerID: String?

    public init(annotation: RecordingAnnotation, containerID: String?) {
        self.annotation = annotation
        self.containerID = containerID
    }

    public var key: String { annotation.value }
}

/// A way of recording containers: the log enricher's audit records, or the eBPF recorder.
public protocol ActivitySource: Sendable {
    /// Whether this source records containers annotated for `method`.
    func records(_ method: RecordingAnnotation.Method) -> Bool
    /// Starts (or goes on) recording `container`; called again when its runtime id appears.
    /// Returns a problem the recording's owner should hear about, nil when there is none.
    func track(_ container: TrackedContainer) async -> String?
    /// What was recorded for `container` so far.
    func activity(of container: TrackedContainer) -> RecordedActivity
    /// Stops recording `container` and drops its data.
    func forget(_ container: TrackedContainer)
    /// Records the source knows were lost so far (0 when it cannot tell): a recording that saw
    /// this number grow may be incomplete.
    var lostRecords: Int { get }
    /// Records the source read but could not attribute to any container so far (0 when it
    /// cannot tell): a recording that saw this number grow may lack some of them.
    var unattributedRecords: Int { get }
}

extension ActivitySource {
    public var unattributedRecords: Int { 0 }
}

/// The logs recorder: the enriched seccomp and AVC records of containers whose pod carries a
/// `trace-logs`/`trace-avcs` annotation, keyed by the annotation's value. Fed by the log
/// enricher on its own task (no buffer that could drop records), read at collection. A record
/// of the container runtime's init adds the runtime's built-in base
/// (``RecordedProfile/recordedSyscalls(name:executable:command:)``).
public final class LogsActivity: ActivitySource, EnrichedRecordSink {
    private let recorded = Mutex<[String: RecordedActivity]>([:])
    private let lost: @Sendable () -> Int
    private let unattributed: @Sendable () -> Int

    /// `lost`: the enricher's count of records the kernel dropped; `unattributed`: its count of
    /// records whose process exited before its container was known.
    public init(lost: @escaping @Sendable () -> Int = { 0 }, unattributed: @escaping @Sendable () -> Int = { 0 }) {
        self.lost = lost
        self.unattributed = unattributed
    }

    public func records(_ method: RecordingAnnotation.Method) -> Bool { method == .logs || method == .avcs }

    public func consume(_ event: EnrichedAuditEvent) {
        guard let key = event.container?.recordProfile else { return }
        switch event.event.details {
        case .seccomp:
            guard let name = event.syscallName else { return }
            let names = RecordedProfile.recordedSyscalls(name: name, executable: event.event.executable, command: event.event.command)
            recorded.withLock { $0[key, default: RecordedActivity()].syscalls.formUnion(names) }
        case .selinux(let permissions, _, let tcontext, let tclass):
            let vectors = RecordedProfile.AccessVector.from(tcontext: tcontext, tclass: tclass, permissions: permissions)
            recorded.withLock { $0[key, default: RecordedActivity()].vectors.formUnion(vectors) }
        case .apparmor:
            return
        }
    }

    public func track(_ container: TrackedContainer) async -> String? { nil }

    public func activity(of container: TrackedContainer) -> RecordedActivity {
        recorded.withLock { $0[container.key] ?? RecordedActivity() }
    }

    public func forget(_ container: TrackedContainer) {
        _ = recorded.withLock { $0.removeValue(forKey: container.key) }
    }

    public var lostRecords: Int { lost() }
    public var unattributedRecords: Int { unattributed() }
}
