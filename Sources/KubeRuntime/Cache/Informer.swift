import KubeClient
import KubeModels
import Logging
import ServiceLifecycle
import Synchronization

/// Callbacks an informer calls for each change of its cache. They run one at a time and
/// should only do quick work (typically: enqueue a key).
public struct InformerHandler<Object: KubeResource>: Sendable {
    public var onAdd: @Sendable (Object) -> Void
    public var onUpdate: @Sendable (_ old: Object, _ new: Object) -> Void
    public var onDelete: @Sendable (Object) -> Void

    public init(
        onAdd: @escaping @Sendable (Object) -> Void = { _ in },
        onUpdate: @escaping @Sendable (_ old: Object, _ new: Object) -> Void = { _, _ in },
        onDelete: @escaping @Sendable (Object) -> Void = { _ in }
    ) {
        self.onAdd = onAdd
        self.onUpdate = onUpdate
        self.onDelete = onDelete
    }

    /// A handler that calls `body` with the key of every added, updated or deleted object.
    public static func enqueueKey(_ body: @escaping @Sendable (ObjectKey) -> Void) -> InformerHandler<Object> {
        InformerHandler(onAdd: { body($0.key) }, onUpdate: { body($1.key) }, onDelete: { body($0.key) })
    }
}

/// A list-then-watch cache of one resource type (client-go's shared informer): keeps a
/// ``Store`` current, calls handlers on every change and, optionally, resyncs periodically.
///
/// Run it as a `Service`; it stops on graceful shutdown or cancellation.
public final class Informer<Object: KubeResource>: Service, Sendable {
    public let store: Store<Object>
    private let client: ResourceClient<Object>
    private let namespace: String?
    private let labelSelector: String?
    private let fieldSelector: String?
    private let resyncPeriod: Duration?
    private let reflectorConfiguration: ReflectorStateMachine.Configuration
    private let pageSize: Int
    private let logger: Logger
    private let handlers = Mutex<[InformerHandler<Object>]>([])
    private let dispatch = Mutex(())
    private let synced = Mutex<(done: Bool, nextWaiter: Int, waiters: [Int: CheckedContinuation<Void, Never>])>((false, 0, [:]))

    /// - Parameters:
    ///   - namespace: watch one namespace, or all when `nil`.
    ///   - resyncPeriod: when set, every cached object is re-delivered as an update this often.
    ///   - transform: applied to every object before it is cached (see ``Store/init(transform:)``).
    public init(
        client: ResourceClient<Object>,
        namespace: String? = nil,
        labelSelector: String? = nil,
        fieldSelector: String? = nil,
        resyncPeriod: Duration? = nil,
        reflector: ReflectorStateMachine.Configuration = .init(),
        pageSize: Int = 500,
        transform: (@Sendable (Object) -> Object)? = nil,
        logger: Logger = Logger(label: "kube.informer")
    ) {
        self.store = Store(transform: transform)
        self.client = client
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.resyncPeriod = resyncPeriod
        self.reflectorConfiguration = reflector
        self.pageSize = pageSize
        var logger = logger
        logger[metadataKey: "k8s.resource"] = "\(Object.resource.qualifiedResource)"
        self.logger = logger
    }

    /// Registers a handler; register before ``run()`` to see the initial list as adds.
    public func addHandler(_ handler: InformerHandler<Object>) {
        handlers.withLock { $0.append(handler) }
        // A late handler still learns about what is already cached.
        for object in store.list() { deliver(.added(object), to: [handler]) }
    }

    /// Whether the first list has been stored.
    public var hasSynced: Bool { synced.withLock { $0.done } }

    /// Suspends until the first list has been stored, or the calling task is cancelled.
    public func waitForSync() async {
        let id = synced.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = synced.withLock { state -> Bool in
                    if state.done || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            synced.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Lists and watches until cancelled; returns normally on graceful shutdown.
    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    if let resyncPeriod = self.resyncPeriod {
                        group.addTask { try await self.resyncLoop(every: resyncPeriod) }
                    }
                    group.addTask { try await self.reflect() }
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            // Stopping is what a graceful shutdown asks for, not a failure.
        }
    }

    private func reflect() async throws {
        var machine = ReflectorStateMachine(configuration: reflectorConfiguration)
        var action = machine.start()
        while !Task.isCancelled {
            switch action {
            case .list:
                action = await list(&machine)
            case .watch(let version, let timeout):
                action = await watch(&machine, from: version, timeoutSeconds: timeout)
            case .wait(let delay, let next):
                try await Task.sleep(for: delay)
                switch next {
                case .list: action = .list
                case .watch(let version, let timeout): action = .watch(resourceVersion: version, timeoutSeconds: timeout)
                }
            }
        }
        throw CancellationError()
    }

    private func list(_ machine: inout ReflectorStateMachine) async -> ReflectorStateMachine.Action {
        do {
            let list = try await client.listAll(
                namespace: namespace,
                options: ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector, limit: pageSize))
            let deltas = store.replace(with: list.items)
            deliver(deltas)
            markSynced()
            logger.debug("kube.informer.listed", metadata: ["k8s.count": "\(list.items.count)", "k8s.resourceVersion": "\(list.metadata.resourceVersion ?? "")"])
            return machine.listSucceeded(resourceVersion: list.metadata.resourceVersion ?? "", random: .random(in: 0..<1))
        } catch {
            logger.warning("kube.informer.list_failed", metadata: ["error": "\(error)"])
            return machine.listFailed(now: .now, random: .random(in: 0..<1))
        }
    }

    private func watch(_ machine: inout ReflectorStateMachine, from version: String, timeoutSeconds: Int) async -> ReflectorStateMachine.Action {
        do {
            let stream = try await client.watch(
                namespace: namespace,
                options: ListOptions(
                    labelSelector: labelSelector, fieldSelector: fieldSelector, resourceVersion: version,
                    timeoutSeconds: timeoutSeconds, allowWatchBookmarks: true))
            for try await event in stream {
                switch event {
                case .added(let object), .modified(let object):
                    deliver([store.upsert(object)])
                    machine.eventReceived(resourceVersion: object.metadata.resourceVersion)
                case .deleted(let object):
                    if let delta = store.delete(object) { deliver([delta]) }
                    machine.eventReceived(resourceVersion: object.metadata.resourceVersion)
                case .bookmark(let resourceVersion):
                    machine.eventReceived(resourceVersion: resourceVersion)
                case .error(let status):
                    let gone = status.code == 410 || status.reason == "Expired" || status.reason == "Gone"
                    logger.info("kube.informer.watch_error_event", metadata: ["k8s.status.code": "\(status.code ?? 0)", "k8s.status.reason": "\(status.reason ?? "")"])
                    return machine.watchFailed(gone: gone, now: .now, random: .random(in: 0..<1))
                }
            }
            if Task.isCancelled { return .wait(.zero, then: .list) }
            return machine.watchEnded(random: .random(in: 0..<1))
        } catch let error as KubeAPIError {
            logger.info("kube.informer.watch_failed", metadata: ["error": "\(error)"])
            return machine.watchFailed(gone: error.isGone, now: .now, random: .random(in: 0..<1))
        } catch {
            if !Task.isCancelled {
                logger.info("kube.informer.watch_failed", metadata: ["error": "\(error)"])
            }
            return machine.watchFailed(gone: false, now: .now, random: .random(in: 0..<1))
        }
    }

    private func resyncLoop(every period: Duration) async throws {
        while true {
            try await Task.sleep(for: period)
            deliver(store.list().map { .updated(old: $0, new: $0) })
        }
    }

    private func markSynced() {
        let waiters = synced.withLock { state -> Dictionary<Int, CheckedContinuation<Void, Never>>.Values in
            state.done = true
            defer { state.waiters.removeAll() }
            return state.waiters.values
        }
        waiters.forEach { $0.resume() }
    }

    private func deliver(_ deltas: [StoreDelta<Object>]) {
        guard !deltas.isEmpty else { return }
        deliver(deltas, to: handlers.withLock { $0 })
    }

    private func deliver(_ delta: StoreDelta<Object>, to handlers: [InformerHandler<Object>]) {
        deliver([delta], to: handlers)
    }

    private func deliver(_ deltas: [StoreDelta<Object>], to handlers: [InformerHandler<Object>]) {
        dispatch.withLock { _ in
            for delta in deltas {
                for handler in handlers {
                    switch delta {
                    case .added(let object): handler.onAdd(object)
                    case .updated(let old, let new): handler.onUpdate(old, new)
                    case .deleted(let object): handler.onDelete(object)
                    }
                }
            }
        }
    }
}
