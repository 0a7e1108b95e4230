import CoreMetrics

/// The series of one named work queue, with client-go's names so that existing dashboards
/// work: `workqueue_adds_total`, `workqueue_depth`, `workqueue_retries_total` and
/// `workqueue_queue_duration_seconds` (time from add to hand-out), each labelled `name`.
struct WorkQueueMetrics: Sendable {
    let adds: Counter
    let depth: Gauge
    let retries: Counter
    let queueDuration: Timer

    init(name: String, factory: any MetricsFactory) {
        let dimensions = [("name", name)]
        adds = Counter(label: "workqueue_adds_total", dimensions: dimensions, factory: factory)
        depth = Gauge(label: "workqueue_depth", dimensions: dimensions, factory: factory)
        retries = Counter(label: "workqueue_retries_total", dimensions: dimensions, factory: factory)
        queueDuration = Timer(label: "workqueue_queue_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds, factory: factory)
    }
}

/// The series of one controller, with controller-runtime's names:
/// `controller_runtime_reconcile_total{controller,result}` (`success`, `error`, `requeue`,
/// `requeue_after`), `controller_runtime_reconcile_errors_total`,
/// `controller_runtime_terminal_reconcile_errors_total` and `controller_runtime_reconcile_time_seconds`.
struct ControllerMetrics: Sendable {
    enum Result: String, CaseIterable {
        case success, error, requeue
        case requeueAfter = "requeue_after"
    }

    private let results: [Result: Counter]
    let errors: Counter
    let terminalErrors: Counter
    let reconcileTime: Timer

    init(controller: String, factory: any MetricsFactory) {
        var results: [Result: Counter] = [:]
        for result in Result.allCases {
            results[result] = Counter(
                label: "controller_runtime_reconcile_total",
                dimensions: [("controller", controller), ("result", result.rawValue)], factory: factory)
        }
        self.results = results
        let dimensions = [("controller", controller)]
        errors = Counter(label: "controller_runtime_reconcile_errors_total", dimensions: dimensions, factory: factory)
        terminalErrors = Counter(label: "controller_runtime_terminal_reconcile_errors_total", dimensions: dimensions, factory: factory)
        reconcileTime = Timer(label: "controller_runtime_reconcile_time_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds, factory: factory)
    }

    func count(_ result: Result) {
        results[result]?.increment()
    }
}

extension Timer {
    /// Records a `Duration` (nanosecond precision, saturating on overflow).
    func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        recordNanoseconds(overflow ? Int64.max : scaled &+ attoseconds / 1_000_000_000)
    }
}
