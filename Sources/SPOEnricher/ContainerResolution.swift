import AuditKit
import KubeModels
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

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
        readSmallFile("\(root)/\(pid)/cgroup")
    }

    public func startTime(of pid: Int32) -> UInt64? {
        guard let stat = readSmallFile("\(root)/\(pid)/stat"), let close = stat.utf8.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // Fields after the command name (which may contain spaces): state is field 3, start time 22.
        let fields = stat.utf8[stat.utf8.index(after: close)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 19 else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }

    private func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 256 * 1024 {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
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

    /// The container `pid` runs in, nil for host processes and processes already gone.
    public mutating func containerID(of pid: Int32, now: ContinuousClock.Instant) -> String? {
        if let entry = entries[pid] {
            if now - entry.verified < verifyInterval { return entry.containerID }
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
