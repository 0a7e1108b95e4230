import AuditKit
import KubeModels
import ProcFS
import Synchronization

/// What the enricher reads about a host process: the seam tests replace.
public protocol ProcessTable: Sendable {
    /// The text of `/proc/<pid>/cgroup`, nil when the process is gone.
    func cgroup(of pid: Int32) -> String?
    /// The process's start time (field 22 of `/proc/<pid>/stat`), nil when it is gone.
    func startTime(of pid: Int32) -> UInt64?
}

/// The host's `/proc` (or the custom host proc mount of `hostProcVolumePath`).
public struct ProcFilesystem: ProcessTable {
    public var root: String

    public init(root: String = "/proc") {
        self.root = root
    }

    public func cgroup(of pid: Int32) -> String? {
        ProcFS.read("\(root)/\(pid)/cgroup", limit: 256 * 1024)
    }

    public func startTime(of pid: Int32) -> UInt64? {
        ProcFS.read("\(root)/\(pid)/stat").map { UInt64(ProcFS.Stat($0).startTime) }
    }
}

/// pid → container id, cached by pid and checked against the process's start time so that a
/// reused pid is never attributed to the old container. The start time is re-read at most once
/// per `verifyInterval` per pid; the cache holds at most `capacity` pids.
public struct ProcessContainerResolver: Sendable {
    private struct Entry {
        var startTime: UInt64
        var containerID: String?
        var verified: ContinuousClock.Instant
    }

    public let processes: any ProcessTable
    public let capacity: Int
    public let verifyInterval: Duration
    private var entries: [Int32: Entry] = [:]

    public init(processes: any ProcessTable, capacity: Int = 4096, verifyInterval: Duration = .seconds(1)) {
        self.processes = processes
        self.capacity = capacity
        self.verifyInterval = verifyInterval
    }

    public var cached: Int { entries.count }

    /// A process learned from a fork: it gets its parent's container (a child inherits the
    /// cgroup), so that its records are attributed even when it exits before its `/proc` entry is
    /// read. Its start time is read when it still runs; otherwise the entry only answers for a
    /// process that no longer exists, never for a later process reusing the pid.
    public mutating func learnFork(parent: Int32, child: Int32, now: ContinuousClock.Instant) {
        guard let container = containerID(of: parent, now: now) else { return }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[child] = Entry(startTime: processes.startTime(of: child) ?? 0, containerID: container, verified: now)
    }

    /// Whether `pid` is a process of the host: it runs, and its cgroup names no container. A
    /// process that is gone is not known to be one.
    public func isHostProcess(_ pid: Int32) -> Bool {
        if let entry = entries[pid] { return entry.containerID == nil && entry.startTime != 0 }
        return false
    }

    /// The container `pid` runs in, nil for host processes and processes already gone.
    public mutating func containerID(of pid: Int32, now: ContinuousClock.Instant) -> String? {
        if let entry = entries[pid] {
            if now - entry.verified < verifyInterval, entry.startTime != 0 { return entry.containerID }
            guard let start = processes.startTime(of: pid) else {
                // Exited since: its last known container is still the best answer.
                return entry.containerID
            }
            if start == entry.startTime {
                entries[pid]?.verified = now
                return entry.containerID
            }
        }
        guard let start = processes.startTime(of: pid), let cgroup = processes.cgroup(of: pid) else { return nil }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        let id = ContainerIDs.fromCgroup(cgroup)
        entries[pid] = Entry(startTime: start, containerID: id, verified: now)
        return id
    }
}

/// container id → pod container, for the pods of this node, kept current from a pod
/// informer (field selector `spec.nodeName=<node>`): no API request per audit line.
public final class NodePodIndex: Sendable {
    private struct State {
        var byContainer: [String: ContainerIdentity] = [:]
        var byPod: [ObjectKey: [String]] = [:]
        var generation = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Bumped on every change, so that a consumer can tell when a retry may succeed.
    public var generation: Int { state.withLock { $0.generation } }

    public func identity(of containerID: String) -> ContainerIdentity? {
        state.withLock { $0.byContainer[containerID] }
    }

    public var count: Int { state.withLock { $0.byContainer.count } }

    /// Indexes the started containers of `pod` (init, regular and ephemeral), replacing what
    /// was indexed for it before.
    public func update(_ pod: Pod) {
        let key = ObjectKey(namespace: pod.metadata.namespace, name: pod.metadata.name ?? "")
        let identities = Self.identities(of: pod)
        state.withLock { state in
            for id in state.byPod[key] ?? [] { state.byContainer[id] = nil }
            for identity in identities { state.byContainer[identity.containerID] = identity }
            state.byPod[key] = identities.isEmpty ? nil : identities.map(\.containerID)
            state.generation += 1
        }
    }

    public func remove(_ pod: Pod) {
        let key = ObjectKey(namespace: pod.metadata.namespace, name: pod.metadata.name ?? "")
        state.withLock { state in
            for id in state.byPod.removeValue(forKey: key) ?? [] { state.byContainer[id] = nil }
            state.generation += 1
        }
    }

    static func identities(of pod: Pod) -> [ContainerIdentity] {
        let annotations = pod.metadata.annotations ?? [:]
        var identities: [ContainerIdentity] = []
        for field in ["initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"] {
            for status in pod.status?[path: [field]]?.arrayValue ?? [] {
                guard let name = status["name"]?.stringValue,
                      let id = status["containerID"]?.stringValue.flatMap(ContainerIDs.fromStatus)
                else { continue }
                let record = annotations["io.containers.trace-logs/\(name)"] ?? annotations["io.containers.trace-avcs/\(name)"]
                identities.append(ContainerIdentity(
                    namespace: pod.metadata.namespace ?? "", pod: pod.metadata.name ?? "", container: name, containerID: id,
                    recordProfile: record))
            }
        }
        return identities
    }
}
