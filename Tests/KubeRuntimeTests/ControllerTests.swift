import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import Logging
import MetricsTestKit
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

/// A reconciler whose answers a test scripts per attempt, recording when each attempt ran.
final class ScriptedReconciler: Reconciler {
    struct Failure: Error {}

    private let script: @Sendable (_ key: ObjectKey, _ attempt: Int) async throws -> ReconcileResult
    private let state = Mutex<[ObjectKey: [ContinuousClock.Instant]]>([:])

    init(_ script: @escaping @Sendable (_ key: ObjectKey, _ attempt: Int) async throws -> ReconcileResult) {
        self.script = script
    }

    func attempts(_ key: ObjectKey) -> [ContinuousClock.Instant] { state.withLock { $0[key] ?? [] } }

    func reconcile(_ key: ObjectKey, logger: Logger) async throws -> ReconcileResult {
        let attempt = state.withLock { state -> Int in
            state[key, default: []].append(.now)
            return state[key]!.count
        }
        return try await script(key, attempt)
    }
}

func fastQueue() -> WorkQueue<ObjectKey> {
    WorkQueue(rateLimiter: ControllerRateLimiter(perItem: .init(base: .milliseconds(20), maximum: .seconds(1))))
}

@Suite struct ControllerTests {
    let key = ObjectKey(namespace: "default", name: "a")

    @Test func errorsAreRetriedWithGrowingBackoffUntilSuccess() async throws {
        let reconciler = ScriptedReconciler { _, attempt in
            if attempt < 3 { throw ScriptedReconciler.Failure() }
            return .done
        }
        let controller = Controller(name: "test", reconciler: reconciler, queue: fastQueue())
        try await whileRunning([controller]) {
            controller.queue.add(key)
            #expect(await eventually { reconciler.attempts(key).count == 3 })
            let times = reconciler.attempts(key)
            #expect(times[1] - times[0] >= .milliseconds(20))
            #expect(times[2] - times[1] >= .milliseconds(40))
            #expect(await eventually { controller.queue.retries(key) == 0 }, "success forgets the backoff")
            try await Task.sleep(for: .milliseconds(200))
            #expect(reconciler.attempts(key).count == 3, "done means no further runs")
        }
    }

    @Test func requeueAfterRunsAgainAfterTheDelay() async throws {
        let reconciler = ScriptedReconciler { _, attempt in attempt == 1 ? .requeueAfter(.milliseconds(100)) : .done }
        let controller = Controller(name: "test", reconciler: reconciler, queue: fastQueue())
        try await whileRunning([controller]) {
            controller.queue.add(key)
            #expect(await eventually { reconciler.attempts(key).count == 2 })
            let times = reconciler.attempts(key)
            #expect(times[1] - times[0] >= .milliseconds(100))
        }
    }

    @Test func terminalErrorsAreNotRetried() async throws {
        let reconciler = ScriptedReconciler { _, _ in throw TerminalError(ScriptedReconciler.Failure()) }
        let controller = Controller(name: "test", reconciler: reconciler, queue: fastQueue())
        try await whileRunning([controller]) {
            controller.queue.add(key)
            #expect(await eventually { reconciler.attempts(key).count == 1 })
            try await Task.sleep(for: .milliseconds(200))
            #expect(reconciler.attempts(key).count == 1)
            #expect(controller.queue.retries(key) == 0)
        }
    }

    @Test func gracefulShutdownFinishesInFlightWorkAndDropsTheRest() async throws {
        let started = Locked(0)
        let finished = Locked(0)
        let reconciler = ScriptedReconciler { _, _ in
            started.withLock { $0 += 1 }
            try? await Task.sleep(for: .milliseconds(300))
            finished.withLock { $0 += 1 }
            return .done
        }
        let controller = Controller(name: "test", reconciler: reconciler, queue: fastQueue(), workers: 2)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await controller.run() }
                for index in 0..<10 { controller.queue.add(ObjectKey(namespace: "default", name: "k\(index)")) }
                #expect(await eventually { started.value == 2 })
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(finished.value == 2, "both in-flight reconciles completed")
        #expect(started.value == 2, "queued keys were dropped")
        #expect(controller.queue.isShuttingDown)
    }

    /// A reconcile stuck on an API server that no longer answers cannot hold the process: after
    /// the grace period it is cancelled, and the controller returns.
    @Test func gracefulShutdownCancelsReconcilesThatOutlastTheGrace() async throws {
        let cancelled = Locked(false)
        let reconciler = ScriptedReconciler { _, _ in
            do {
                try await Task.sleep(for: .seconds(3600))
            } catch {
                cancelled.withLock { $0 = true }
                throw error
            }
            return .done
        }
        let logs = LogCapture()
        let controller = Controller(
            name: "test", reconciler: reconciler, queue: fastQueue(), shutdownGrace: .milliseconds(200), logger: logs.logger)
        let start = ContinuousClock.now
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await controller.run() }
                controller.queue.add(key)
                #expect(await eventually { reconciler.attempts(key).count == 1 })
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(ContinuousClock.now - start < .seconds(30))
        #expect(cancelled.value, "the stuck reconcile saw the cancellation")
        #expect(logs.records.contains { $0.message == "kube.controller.shutdown_grace_expired" })
        #expect(logs.records.contains { $0.message == "kube.controller.reconcile_cancelled" })
        #expect(!logs.records.contains { $0.message == "kube.controller.reconcile_error" }, "a cancelled reconcile is no failure")
        #expect(logs.records.last?.message == "kube.controller.stopped")
    }

    /// Informer, controller and API server together: every widget gets a status written by
    /// the reconciler, conflicts included.
    @Test func informerDrivenControllerConvergesEveryObject() async throws {
        try await withClient { client, server in
            let widgets = client.resource(Widget.self)
            let informer = Informer(client: widgets, reflector: fastReflector)
            let reconciler = ScriptedReconciler { key, _ in
                guard var widget = informer.store.get(key) else { return .done }
                let wanted: JSONValue = ["observedSpec": widget.spec ?? .null]
                if widget.status == wanted { return .done }
                widget.status = wanted
                _ = try await widgets.updateStatus(widget)
                return .done
            }
            let controller = Controller(name: "status", reconciler: reconciler, queue: fastQueue(), workers: 3)
            informer.addHandler(controller.enqueueHandler())
            try await whileRunning([informer, controller]) {
                for index in 0..<20 {
                    _ = try await widgets.create(Widget(name: "w\(index)", spec: ["n": .int(Int64(index))]))
                }
                // A concurrent writer makes some status updates conflict; they must be retried.
                for index in stride(from: 0, to: 20, by: 4) {
                    _ = try await widgets.patch("w\(index)", namespace: "default", patch: .merge(["spec": ["n": -1]]))
                }
                let converged = await eventually {
                    (0..<20).allSatisfy { index in
                        guard let widget = server.object(Widget.self, namespace: "default", name: "w\(index)") else { return false }
                        return widget.status == ["observedSpec": widget.spec ?? .null]
                    }
                }
                #expect(converged)
            }
        }
    }
}

@Suite struct ControllerMetricsTests {
    @Test func reconcilesAndTheQueueReportControllerRuntimeMetrics() async throws {
        let metrics = TestMetrics()
        let key = ObjectKey(namespace: "default", name: "a")
        let reconciler = ScriptedReconciler { _, attempt in
            switch attempt {
            case 1: throw ScriptedReconciler.Failure()
            case 2: return .requeueAfter(.milliseconds(10))
            default: return .done
            }
        }
        let controller = Controller(name: "widgets", reconciler: reconciler, metricsFactory: metrics)
        try await whileRunning([controller]) {
            controller.queue.add(key)
            #expect(await eventually { reconciler.attempts(key).count == 3 })
        }
        func total(_ result: String) throws -> Int64 {
            try metrics.expectCounter("controller_runtime_reconcile_total", [("controller", "widgets"), ("result", result)]).totalValue
        }
        #expect(try total("error") == 1)
        #expect(try total("requeue_after") == 1)
        #expect(try total("success") == 1)
        #expect(try total("requeue") == 0)
        #expect(try metrics.expectCounter("controller_runtime_reconcile_errors_total", [("controller", "widgets")]).totalValue == 1)
        #expect(try metrics.expectTimer("controller_runtime_reconcile_time_seconds", [("controller", "widgets")]).values.count == 3)

        let queue = [("name", "widgets")]
        #expect(try metrics.expectCounter("workqueue_adds_total", queue).totalValue == 3, "the first add, the retry and the requeue-after")
        #expect(try metrics.expectCounter("workqueue_retries_total", queue).totalValue == 1)
        #expect(try metrics.expectTimer("workqueue_queue_duration_seconds", queue).values.count == 3)
        #expect(try metrics.expectGauge("workqueue_depth", queue).lastValue == 0)
    }
}
