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

/// The runtime's family names with their `# HELP` texts (controller-runtime's and client-go's).
public enum RuntimeMetricFamilies {
    public static let help: [String: String] = [
        "workqueue_adds_total": "Total number of adds handled by workqueue",
        "workqueue_depth": "Current depth of workqueue",
        "workqueue_retries_total": "Total number of retries handled by workqueue",
        "workqueue_queue_duration_seconds": "How long in seconds an item stays in workqueue before being requested",
        "controller_runtime_reconcile_total": "Total number of reconciliations per controller",
        "controller_runtime_reconcile_errors_total": "Total number of reconciliation errors per controller",
        "controller_runtime_terminal_reconcile_errors_total": "Total number of terminal reconciliation errors per controller",
        "controller_runtime_reconcile_time_seconds": "Length of time per reconciliation per controller",
    ]

    /// Histogram buckets as controller-runtime and client-go use them.
    public static let durationBuckets: [String: [Duration]] = [
        "controller_runtime_reconcile_time_seconds": [
            0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
            1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
        ].map { Duration.milliseconds(Int64(($0 * 1000).rounded())) },
        // client-go's exponential buckets: 10 ns to 10 s, one per power of ten.
        "workqueue_queue_duration_seconds": (0..<10).map { Duration.nanoseconds(Int64(10 * pow10($0))) },
    ]

    private static func pow10(_ exponent: Int) -> Double {
        (0..<exponent).reduce(1.0) { value, _ in value * 10 }
    }
}
