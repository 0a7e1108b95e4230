import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import Logging
import RecordingKit
import SPOAPI
import SeccompCompiler
import Synchronization

/// What the node's recorder needs to know about where it runs.
public struct RecorderConfiguration: Sendable {
    public var node: String
    /// The node's architecture, as recorded profiles name it.
    public var architecture: SeccompArchitecture

    public init(node: String, architecture: SeccompArchitecture) {
        self.node = node
        self.architecture = architecture
    }

    /// The finalizer this node keeps on a recording while it records pods of it (the node name
    /// shortened so that the finalizer fits 63 characters).
    public var finalizer: String { "\(node.prefix(53))-recording" }
}

/// The profile recorder of one node (reference §5.3): records the containers of this node's
/// pods that carry the recording webhook's annotations, with the sources that handle their
/// annotation (logs: the log enricher's records; bpf: the eBPF recorder), and turns each into a
/// SeccompProfile or SelinuxProfile when the pod is deleted or succeeds. Keys are pod keys.
///
/// Beyond upstream: what was recorded survives a daemon restart (``RecorderStateStore``); the
/// annotation `spo.x-k8s.io/snapshot` on a ProfileRecording asks for the profiles now, without
/// deleting the pods; a recording deleted while its pods run is collected at once; every
/// produced profile passes validation and compiles with libseccomp before it is written, and
/// is listed in the recording's `status.profiles`; a recording that saw the kernel drop records
/// gets a `RecordsLost` Warning, one that saw records no container could be found for a
/// `RecordsUnattributed` Warning.
public final class NodeProfileRecorder: Reconciler, Sendable {
    public static let snapshotAnnotation = "spo.x-k8s.io/snapshot"

    let pods: Store<Pod>
    let recordings: Store<ProfileRecording>
    let client: KubernetesClient
    let events: EventRecorder
    let sources: [any ActivitySource]
    let stateStore: (any RecorderStateStore)?
    let configuration: RecorderConfiguration
    let logger: Logger
    private let state = Mutex(RecorderState())
    private let dirty = Atomic<Bool>(false)

    public init(
        pods: Store<Pod>, recordings: Store<ProfileRecording>, client: KubernetesClient, events: EventRecorder, sources: [any ActivitySource],
        stateStore: (any RecorderStateStore)?, configuration: RecorderConfiguration, logger: Logger
    ) {
        self.pods = pods
        self.recordings = recordings
        self.client = client
        self.events = events
        self.sources = sources
        self.stateStore = stateStore
        self.configuration = configuration
        self.logger = logger
    }

    /// The pods being recorded, by key.
    public var trackedPods: [String] { state.withLock { Array($0.pods.keys).sorted() } }

    /// The keys of the tracked pods of a recording, to reconcile when it changes.
    public func pods(of recording: ObjectKey) -> [ObjectKey] {
        state.withLock { state in
            state.pods.filter { $0.value.recorded.namespace == recording.namespace && $0.value.recordings[recording.name] != nil }
                .map { ObjectKey($0.key) }
        }
    }

    // MARK: Persistence

    /// Loads the state a previous daemon saved and resumes recording its containers; returns
    /// the pod keys to reconcile.
    public func restore() async -> [ObjectKey] {
        guard let stateStore else { return [] }
        let loaded: RecorderState?
        do {
            loaded = try stateStore.load()
        } catch {
            logger.warning("recorder.state.unreadable", metadata: ["error": "\(error)"])
            loaded = nil
        }
        guard let loaded else { return [] }
        state.withLock { $0 = loaded }
        for (_, pod) in loaded.pods {
            for container in pod.recorded.containers where pod.recordings[container.annotation.recording] != nil {
                _ = await source(for: container.annotation.method)?.track(TrackedContainer(annotation: container.annotation, containerID: container.containerID))
            }
        }
        logger.info("recorder.state.restored", metadata: ["pods": "\(loaded.pods.count)"])
        return loaded.pods.keys.map { ObjectKey($0) }
    }

    /// Saves what was recorded so far (when anything changed since the last save).
    public func save(force: Bool = false) {
        guard let stateStore, force || dirty.exchange(false, ordering: .relaxed) else { return }
        let snapshot: RecorderState = state.withLock { state in
            for (key, pod) in state.pods {
                for container in pod.recorded.containers {
                    guard let source = source(for: container.annotation.method) else { continue }
                    let now = source.activity(of: TrackedContainer(annotation: container.annotation, containerID: container.containerID))
                    state.pods[key]?.saved[container.recordingKey] = (pod.saved[container.recordingKey] ?? RecordedActivity()).union(now)
                }
            }
            return state
        }
        do {
            try stateStore.save(snapshot)
        } catch {
            dirty.store(true, ordering: .relaxed)
            logger.warning("recorder.state.save_failed", metadata: ["error": "\(error)"])
        }
    }

    func source(for method: RecordingAnnotation.Method) -> (any ActivitySource)? {
        sources.first { $0.records(method) }
    }

    // MARK: Reconcile

    public func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult {
        let live = pods.get(key)
        let podKey = key.description
        var tracked = state.withLock { $0.pods[podKey] }
        let recorded = live.flatMap(RecordedPod.init)

        guard let live, let recorded, !RecordedPod.isFinished(live) else {
            // Deleted, succeeded, or no longer annotated: the recording of this pod is complete.
            // A pod that succeeded may show its containers' ids only now (a short-lived
            // container's pod is Pending while it runs): collect with what it shows last.
            if var tracked {
                if let recorded { tracked.recorded = recorded }
                for name in tracked.recordings.keys.sorted() { try await collect(tracked, recording: name, forgetting: true, logger: logger) }
                state.withLock { _ = $0.pods.removeValue(forKey: podKey) }
                dirty.store(true, ordering: .relaxed)
                for name in tracked.recordings.keys { try await updateFinalizers(ObjectKey(namespace: tracked.recorded.namespace, name: name)) }
            }
            return .done
        }

        if tracked == nil {
            guard let started = try await start(live, recorded, logger: logger) else { return .done }
            tracked = started
        } else {
            tracked?.recorded = recorded
        }
        guard var pod = tracked else { return .done }
        for container in pod.recorded.containers {
            guard pod.recordings[container.annotation.recording] != nil else { continue }
            guard let source = source(for: container.annotation.method) else {
                if pod.reported.insert("unavailable/\(container.name)").inserted {
                    await warn(recording: container.annotation.recording, namespace: pod.recorded.namespace, reason: "RecorderNotEnabled",
                        "container \(container.name) of pod \(pod.recorded.name) asks for the \(container.annotation.method == .bpf ? "bpf" : "logs") recorder, which is not enabled on node \(configuration.node) (spod enableBpfRecorder / enableLogEnricher)")
                }
                continue
            }
            if let problem = await source.track(TrackedContainer(annotation: container.annotation, containerID: container.containerID)),
               pod.reported.insert("problem/\(container.name)").inserted {
                await warn(recording: container.annotation.recording, namespace: pod.recorded.namespace, reason: "RecorderUnavailable",
                    "cannot record container \(container.name) of pod \(pod.recorded.name) on node \(configuration.node): \(problem)")
            }
        }
        state.withLock { $0.pods[podKey] = pod }

        // A recording deleted meanwhile is collected now; a snapshot request is answered.
        for name in pod.recordings.keys.sorted() {
            let recording = recordings.get(name: name, namespace: pod.recorded.namespace)
            if recording == nil || recording?.metadata.deletionTimestamp != nil {
                try await collect(pod, recording: name, forgetting: true, logger: logger)
                pod.recordings[name] = nil
                state.withLock { $0.pods[podKey] = pod.recordings.isEmpty ? nil : pod }
                try await updateFinalizers(ObjectKey(namespace: pod.recorded.namespace, name: name))
            } else if let request = recording?.metadata.annotations?[Self.snapshotAnnotation], request != pod.snapshots[name] {
                try await collect(pod, recording: name, forgetting: false, logger: logger)
                pod.snapshots[name] = request
                state.withLock { $0.pods[podKey] = pod }
            }
        }
        dirty.store(true, ordering: .relaxed)
        return .done
    }

    /// Starts recording a pod seen for the first time: what its recordings ask for, the
    /// finalizers that keep them while this node records, the `ProfileRecording` event.
    private func start(_ live: Pod, _ recorded: RecordedPod, logger: Logger) async throws -> RecorderState.Pod? {
        for (key, value) in recorded.unparseable.sorted(by: { $0.key < $1.key }) {
            await events.record(live, type: .warning, reason: "AnnotationParsing", message: "annotation \(key)=\"\(value)\" is not a recording (<recording>_<container>_<nonce>_<unix seconds>): ignored")
        }
        var wanted: [String: RecorderState.Recording] = [:]
        for name in Set(recorded.containers.map(\.annotation.recording)).sorted() {
            guard let recording = recordings.get(name: name, namespace: recorded.namespace), recording.metadata.deletionTimestamp == nil,
                  let spec = recording.spec
            else {
                await events.record(live, type: .warning, reason: "CannotCreateProfile", message: "ProfileRecording \(recorded.namespace)/\(name) does not exist: its containers are not recorded")
                continue
            }
            wanted[name] = RecorderState.Recording(
                kind: spec.kind, mergeStrategy: spec.mergeStrategy, disableProfileAfterRecording: spec.disableProfileAfterRecording == true)
        }
        guard !wanted.isEmpty else { return nil }
        var pod = RecorderState.Pod(recorded: recorded, recordings: wanted)
        var unattributedAtStart: [String: Int] = [:]
        for container in recorded.containers {
            let source = source(for: container.annotation.method)
            pod.lostAtStart[container.recordingKey] = source?.lostRecords ?? 0
            unattributedAtStart[container.recordingKey] = source?.unattributedRecords ?? 0
        }
        pod.unattributedAtStart = unattributedAtStart
        state.withLock { $0.pods[ObjectKey(namespace: recorded.namespace, name: recorded.name).description] = pod }
        for name in wanted.keys.sorted() { try await updateFinalizers(ObjectKey(namespace: recorded.namespace, name: name)) }
        await events.record(live, type: .normal, reason: "ProfileRecording", message: "Recording profiles")
        logger.info("recorder.pod.started", metadata: ["containers": "\(recorded.containers.map(\.name).joined(separator: ","))"])
        return pod
    }

    // MARK: Collection

    /// Turns what was recorded for the pod's containers of `name` into profiles.
    private func collect(_ pod: RecorderState.Pod, recording name: String, forgetting: Bool, logger: Logger) async throws {
        guard let recording = pod.recordings[name] else { return }
        for container in pod.recorded.containers where container.annotation.recording == name {
            let tracked = TrackedContainer(annotation: container.annotation, containerID: container.containerID)
            guard let source = source(for: container.annotation.method) else { continue }
            let activity = (pod.saved[container.recordingKey] ?? RecordedActivity()).union(source.activity(of: tracked))
            defer { if forgetting { source.forget(tracked) } }
            let profileName = pod.recorded.profileName(for: container)
            guard !activity.isEmpty else {
                // Every container makes syscalls: none recorded means it was never seen (it did
                // not start, or its calls could not be told apart). A snapshot may come too early.
                if forgetting {
                    await warn(recording: name, namespace: pod.recorded.namespace, reason: "CannotCreateProfile",
                        "profile \(profileName): nothing was recorded for container \(container.name) of pod \(pod.recorded.name) on node \(configuration.node)"
                            + (container.containerID == nil ? " (the pod never showed the container's id)" : ""))
                }
                continue
            }
            let partial = recording.mergeStrategy == .containers
            let metadata = RecordedProfile.metadata(
                name: profileName, namespace: pod.recorded.namespace, recording: name, container: container.name, partial: partial)
            do {
                switch recording.kind {
                case .selinuxProfile?:
                    let spec = RecordedProfile.selinux(vectors: activity.vectors, disabled: recording.disableProfileAfterRecording)
                    var profile = SelinuxProfile(metadata: metadata, spec: spec)
                    try check(profile.validate())
                    profile.setTypeMeta()
                    let written = try await upsert(profile) { $0.spec = spec }
                    await events.record(written, type: .normal, reason: "ProfileCreated", message: "selinuxprofile profile created")
                default:
                    let spec = RecordedProfile.seccomp(syscalls: activity.syscalls, architecture: configuration.architecture, disabled: recording.disableProfileAfterRecording)
                    var profile = SeccompProfile(metadata: metadata, spec: spec)
                    try check(profile.validate())
                    do {
                        _ = try SeccompFilter.compile(spec)
                    } catch {
                        throw RecordingFailure(message: "the recorded profile does not compile with libseccomp: \(error)")
                    }
                    profile.setTypeMeta()
                    let written = try await upsert(profile) { $0.spec = spec }
                    await events.record(written, type: .normal, reason: "ProfileCreated", message: "seccomp profile created")
                }
                try await addProduced(profileName, to: ObjectKey(namespace: pod.recorded.namespace, name: name))
                logger.info("recorder.profile.created", metadata: ["profile": "\(pod.recorded.namespace)/\(profileName)", "syscalls": "\(activity.syscalls.count)"])
            } catch let failure as RecordingFailure {
                await warn(recording: name, namespace: pod.recorded.namespace, reason: "CannotCreateProfile", "profile \(profileName): \(failure.message)")
                continue
            } catch let error as KubeAPIError where !error.isConflict {
                await warn(recording: name, namespace: pod.recorded.namespace, reason: "CannotCreateProfile", "profile \(profileName): \(error)")
                throw error
            }
            let lost = source.lostRecords - (pod.lostAtStart[container.recordingKey] ?? source.lostRecords)
            if lost > 0 {
                await warn(recording: name, namespace: pod.recorded.namespace, reason: "RecordsLost",
                    "the kernel dropped \(lost) audit records on node \(configuration.node) while container \(container.name) of pod \(pod.recorded.name) was recorded: profile \(profileName) may lack syscalls (set kernel.printk_ratelimit=0 on the node, or run auditd)")
            }
            let unattributed = source.unattributedRecords - (pod.unattributedAtStart?[container.recordingKey] ?? source.unattributedRecords)
            if unattributed > 0 {
                await warn(recording: name, namespace: pod.recorded.namespace, reason: "RecordsUnattributed",
                    "\(unattributed) audit records on node \(configuration.node) came from processes that exited before their container could be told while container \(container.name) of pod \(pod.recorded.name) was recorded: profile \(profileName) may lack syscalls of such short-lived processes")
            }
        }
    }

    struct RecordingFailure: Error {
        var message: String
    }

    private func check(_ problems: [ValidationProblem]) throws {
        guard problems.isEmpty else { throw RecordingFailure(message: "the recorded profile is invalid: " + problems.map(\.description).joined(separator: "; ")) }
    }

    /// Creates the profile, or replaces the spec (and the recording labels) of an existing one.
    private func upsert<P: KubeResource>(_ profile: P, replace: @escaping (inout P) -> Void) async throws -> P {
        let resource = client.resource(P.self)
        do {
            return try await resource.create(profile)
        } catch let error as KubeAPIError where error.isAlreadyExists {
            return try await resource.update(profile.metadata.name ?? "", namespace: profile.metadata.namespace) { live in
                replace(&live)
                live.metadata.labels = (live.metadata.labels ?? [:]).merging(profile.metadata.labels ?? [:]) { $1 }
            }
        }
    }

    /// Lists a produced profile in the recording's `status.profiles`.
    private func addProduced(_ profile: String, to recording: ObjectKey) async throws {
        do {
            _ = try await client.resource(ProfileRecording.self).updateStatus(recording.name, namespace: recording.namespace) { object in
                var status = object.status ?? RecordingStatus()
                status.profiles = Array(Set((status.profiles ?? []) + [profile])).sorted()
                object.status = status
            }
        } catch let error as KubeAPIError where error.isNotFound {
            return
        }
    }

    /// Keeps this node's finalizer on a recording while it records pods of it, and for a
    /// merging recording adds `has-unmerged-profiles` with the first pod (the manager's merger
    /// removes it). The API refuses new finalizers on an object being deleted; one that is
    /// already there stays until this node is done.
    private func updateFinalizers(_ recording: ObjectKey) async throws {
        let recordsIt = state.withLock { state in
            state.pods.values.contains { $0.recorded.namespace == recording.namespace && $0.recordings[recording.name] != nil }
        }
        let finalizer = configuration.finalizer
        guard let cached = recordings.get(recording) else { return }
        let merges = cached.spec?.mergeStrategy == .containers
        func wanted(_ object: ProfileRecording) -> [String] {
            var finalizers = object.metadata.finalizers ?? []
            let had = finalizers.contains(finalizer)
            finalizers.removeAll { $0 == finalizer }
            let deleting = object.metadata.deletionTimestamp != nil
            if recordsIt, had || !deleting { finalizers.append(finalizer) }
            if recordsIt, merges, !deleting, !finalizers.contains(SPOMetadata.unmergedProfilesFinalizer) {
                finalizers.append(SPOMetadata.unmergedProfilesFinalizer)
            }
            return finalizers
        }
        guard Set(wanted(cached)) != Set(cached.metadata.finalizers ?? []) else { return }
        do {
            _ = try await client.resource(ProfileRecording.self).update(recording.name, namespace: recording.namespace) { object in
                let finalizers = wanted(object)
                object.metadata.finalizers = finalizers.isEmpty ? nil : finalizers
            }
        } catch let error as KubeAPIError where error.isNotFound {
            return
        }
    }

    private func warn(recording: String, namespace: String, reason: String, _ message: String) async {
        let reference = ObjectReference(apiVersion: ProfileRecording.apiVersion, kind: ProfileRecording.kind, namespace: namespace, name: recording)
        await events.record(reference, type: .warning, reason: reason, message: message)
        logger.warning("recorder.problem", metadata: ["reason": "\(reason)", "detail": "\(message)"])
    }
}
