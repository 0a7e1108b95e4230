import AuditKit
import Foundation
import ProcFS
import SPOAPI
import SeccompCompiler
import Synchronization
import SyscallRecorder

/// The bpf recorder: the eBPF engine attached while any container annotated `trace-bpf/` is
/// recorded, a container's calls read from the bitmap of its mount namespace. A container's
/// namespace is found by the cgroup the engine saw its first task in (which names the container
/// id: found also when every process of the container has exited, as a short-lived container's
/// have by the time its pod shows the id), else from one of its running processes
/// (`/proc/<pid>/cgroup`); a node where BPF cannot load says why, once per container.
public final class BPFActivity: ActivitySource {
    private struct State {
        var engine: ContainerSyscallRecorder?
        var tracked: [String: TrackedContainer] = [:]
        var namespaces: [String: UInt32] = [:]
    }

    private let state = Mutex(State())
    private let proc: String
    private let start: @Sendable (UInt32) throws -> ContainerSyscallRecorder

    /// `proc`: the host's `/proc` (the daemon runs in the host PID namespace).
    public init(proc: String = "/proc", start: @escaping @Sendable (UInt32) throws -> ContainerSyscallRecorder = { try ContainerSyscallRecorder(hostMountNamespace: $0) }) {
        self.proc = proc
        self.start = start
    }

    public func records(_ method: RecordingAnnotation.Method) -> Bool { method == .bpf }

    /// Whether the engine is attached (for tests and readiness).
    public var isAttached: Bool { state.withLock { $0.engine != nil } }

    public func track(_ container: TrackedContainer) async -> String? {
        let problem: String? = state.withLock { state in
            state.tracked[container.key] = container
            guard state.engine == nil else { return nil }
            // The host's namespace is init's; where init's cannot be read (not in the host's PID
            // namespace, or a sandbox's init), this process's own: its calls are then recorded
            // too, which costs map entries, never a wrong profile.
            guard let host = ContainerSyscallRecorder.mountNamespace(ofProcess: 1, proc: proc)
                ?? ContainerSyscallRecorder.mountNamespace(ofProcess: getpid(), proc: proc)
            else {
                return "eBPF recorder: cannot read a mount namespace from \(proc)/1/ns/mnt (the daemon needs the host's PID namespace)"
            }
            do {
                state.engine = try start(host)
                return nil
            } catch {
                return "eBPF recorder: \(error)"
            }
        }
        if problem == nil { resolve(container) }
        return problem
    }

    public func activity(of container: TrackedContainer) -> RecordedActivity {
        resolve(container)
        guard let (engine, namespace) = state.withLock({ state in
            state.engine.flatMap { engine in container.containerID.flatMap { state.namespaces[$0] }.map { (engine, $0) } }
        }) else { return RecordedActivity() }
        var names = SyscallNameTable()
        var syscalls = Set<String>()
        for (arch, numbers) in engine.syscalls(ofMountNamespace: namespace) {
            for number in numbers { if let name = names.name(of: number, arch: arch) { syscalls.insert(name) } }
        }
        return RecordedActivity(syscalls: syscalls)
    }

    public func forget(_ container: TrackedContainer) {
        let detached: ContainerSyscallRecorder? = state.withLock { state in
            state.tracked[container.key] = nil
            if let id = container.containerID, let namespace = state.namespaces.removeValue(forKey: id) {
                state.engine?.forget(mountNamespace: namespace)
            }
            guard state.tracked.isEmpty else { return nil }
            // The last recorded container went: detach, so the node's syscalls cost nothing again.
            defer { state.engine = nil; state.namespaces = [:] }
            return state.engine
        }
        _ = detached
    }

    public var lostRecords: Int { 0 }

    /// Finds the namespaces of the tracked containers not found yet, in one pass over `/proc`
    /// (the recorder calls it a few times a second while there are any: a container's calls are
    /// recorded from its start, but can only be told apart once a process of it was seen).
    public func resolvePending() {
        let pending = state.withLock { state in
            Set(state.tracked.values.compactMap(\.containerID).filter { state.namespaces[$0] == nil && state.engine != nil })
        }
        guard !pending.isEmpty else { return }
        var found = recordedNamespaces(of: pending)
        guard found.count < pending.count, let entries = try? FileManager.default.contentsOfDirectory(atPath: proc) else {
            if !found.isEmpty { state.withLock { state in state.namespaces.merge(found) { old, _ in old } } }
            return
        }
        for entry in entries where found.count < pending.count {
            guard let pid = Int32(entry), let cgroup = ProcFS.read("\(proc)/\(pid)/cgroup", limit: 64 * 1024),
                  let id = ContainerIDs.fromCgroup(cgroup), pending.contains(id), found[id] == nil,
                  let namespace = ContainerSyscallRecorder.mountNamespace(ofProcess: pid, proc: proc)
            else { continue }
            found[id] = namespace
        }
        guard !found.isEmpty else { return }
        state.withLock { state in state.namespaces.merge(found) { old, _ in old } }
    }

    /// Whether a tracked container's namespace is still unknown.
    public var hasPending: Bool {
        state.withLock { state in state.tracked.values.contains { $0.containerID.map { state.namespaces[$0] == nil } ?? false } }
    }

    /// The namespaces the engine saw the first task of in a cgroup naming one of `containerIDs`.
    private func recordedNamespaces(of containerIDs: Set<String>) -> [String: UInt32] {
        guard let engine = state.withLock({ $0.engine }) else { return [:] }
        var found: [String: UInt32] = [:]
        for namespace in engine.mountNamespaces() {
            guard let name = engine.cgroupName(ofMountNamespace: namespace), let id = ContainerIDs.fromCgroup(name),
                  containerIDs.contains(id), found[id] == nil
            else { continue }
            found[id] = namespace
        }
        return found
    }

    /// Finds the mount namespace of the container once its id is known: by the cgroup the
    /// engine saw it in, else from a process of it that runs.
    private func resolve(_ container: TrackedContainer) {
        guard let id = container.containerID, state.withLock({ $0.namespaces[id] == nil && $0.engine != nil }) else { return }
        guard let namespace = recordedNamespaces(of: [id])[id] ?? Self.mountNamespace(ofContainer: id, proc: proc) else { return }
        state.withLock { state in
            state.namespaces[id] = namespace
            if let key = state.tracked.first(where: { $0.value.containerID == id })?.key { state.tracked[key]?.containerID = id }
        }
    }

    /// The mount namespace of a process whose cgroup names `containerID`.
    static func mountNamespace(ofContainer containerID: String, proc: String) -> UInt32? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: proc) else { return nil }
        for entry in entries {
            guard let pid = Int32(entry), let cgroup = ProcFS.read("\(proc)/\(pid)/cgroup", limit: 64 * 1024), cgroup.contains(containerID),
                  ContainerIDs.fromCgroup(cgroup) == containerID
            else { continue }
            if let namespace = ContainerSyscallRecorder.mountNamespace(ofProcess: pid, proc: proc) { return namespace }
        }
        return nil
    }
}
