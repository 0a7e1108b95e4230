import CoreMetrics
import KubeClient
import KubeModels
import Logging
import ServiceLifecycle
import Synchronization

/// Runs a ``Reconciler`` with `workers` concurrent workers over a ``WorkQueue`` of object keys
/// (controller-runtime's controller). Feed the queue from informer handlers.
///
/// On graceful shutdown it stops taking keys and gives in-flight reconciles `shutdownGrace` to
/// finish; then it cancels them (as controller-runtime cancels their context), so that an
/// unreachable API server cannot hold the process past its termination grace period. The
/// next start reconciles every object again, so cancelled work is not lost.
/// It reports controller-runtime's `controller_runtime_reconcile_*` metrics and, through its
/// queue (named after the controller by default), the `workqueue_*` ones.
public final class Controller: Service, Sendable {
    public let name: String
    public let queue: WorkQueue<ObjectKey>
    private let reconciler: any Reconciler
    private let workers: Int
    private let shutdownGrace: Duration
    private let logger: Logger
    private let reconcileCounter = Atomic<UInt64>(0)
    private let metrics: ControllerMetrics

    /// - Parameters:
    ///   - queue: the work queue; by default one named after the controller.
    ///   - metricsFactory: where metrics go (default: the process's bootstrapped `MetricsSystem`).
    public init(
        name: String,
        reconciler: any Reconciler,
        queue: WorkQueue<ObjectKey>? = nil,
        workers: Int = 1,
        shutdownGrace: Duration = .seconds(5),
        logger: Logger = Logger(label: "kube.controller"),
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        precondition(workers > 0, "a controller needs at least one worker")
        self.name = name
        self.reconciler = reconciler
        self.queue = queue ?? WorkQueue(name: name, metricsFactory: metricsFactory)
        self.metrics = ControllerMetrics(controller: name, factory: metricsFactory ?? MetricsSystem.factory)
        self.workers = workers
        self.shutdownGrace = shutdownGrace
        var logger = logger
        logger[metadataKey: "controller"] = "\(name)"
        self.logger = logger
    }

    /// Handlers that enqueue the key of every changed object.
    public func enqueueHandler<Object: KubeResource>(for type: Object.Type = Object.self) -> InformerHandler<Object> {
        let queue = self.queue
        return .enqueueKey { queue.add($0) }
    }

    public func run() async throws {
        logger.info("kube.controller.starting", metadata: ["workers": "\(workers)"])
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                // The queue closes the moment shutdown begins, so no worker takes another key.
                await withGracefulShutdownHandler {
                    await withTaskGroup(of: Void.self) { workers in
                        workers.addTask { await self.queue.run() }
                        for _ in 0..<self.workers {
                            workers.addTask { await self.worker() }
                        }
                    }
                } onGracefulShutdown: {
                    self.queue.shutDown(dropQueued: true)
                }
                return true
            }
            group.addTask {
                // Ends with an error only when the controller is cancelled before shutting down.
                guard (try? await gracefulShutdown()) != nil else { return false }
                try? await Task.sleep(for: self.shutdownGrace)
                return false
            }
            // Whichever ends first: the workers (done, or cancelled) or the grace period.
            if await group.next() == false, !Task.isCancelled {
                self.logger.warning("kube.controller.shutdown_grace_expired", metadata: [
                    "grace_ms": "\(Int(self.shutdownGrace.seconds * 1000))", "detail": "cancelling in-flight reconciles",
                ])
            }
            group.cancelAll()
        }
        // Cancellation (not graceful) also ends the workers; make sure the queue is closed.
        queue.shutDown(dropQueued: true)
        logger.info("kube.controller.stopped")
    }

    private func worker() async {
        while let key = await queue.get() {
            await process(key)
            queue.done(key)
        }
    }

    /// Reconciles one key and decides on requeueing. Never throws: every error is logged with the key.
    func process(_ key: ObjectKey) async {
        let id = reconcileCounter.wrappingAdd(1, ordering: .relaxed).newValue
        var logger = self.logger
        if let namespace = key.namespace { logger[metadataKey: "k8s.namespace"] = "\(namespace)" }
        logger[metadataKey: "k8s.name"] = "\(key.name)"
        logger[metadataKey: "reconcile.id"] = "\(id)"
        let start = ContinuousClock.now
        defer { metrics.reconcileTime.record(ContinuousClock.now - start) }
        do {
            switch try await reconciler.reconcile(key, logger: logger) {
            case .done:
                metrics.count(.success)
                queue.forget(key)
            case .requeue:
                metrics.count(.requeue)
                queue.addRateLimited(key)
            case .requeueAfter(let delay):
                metrics.count(.requeueAfter)
                queue.forget(key)
                queue.add(key, after: delay)
            }
        } catch is CancellationError where Task.isCancelled {
            // Shutting down: the next start reconciles this key again.
            logger.info("kube.controller.reconcile_cancelled")
        } catch let error as TerminalError {
            logger.error("kube.controller.reconcile_terminal_error", metadata: ["error": "\(error.underlying)"])
            metrics.count(.error)
            metrics.errors.increment()
            metrics.terminalErrors.increment()
            queue.forget(key)
        } catch {
            logger.error("kube.controller.reconcile_error", metadata: ["error": "\(error)", "retries": "\(queue.retries(key))"])
            metrics.count(.error)
            metrics.errors.increment()
            queue.addRateLimited(key)
        }
    }
}
