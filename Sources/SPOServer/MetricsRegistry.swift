import CoreMetrics
import Prometheus

/// The process's Prometheus registries behind swift-metrics, split by endpoint as upstream
/// splits them: `/metrics` carries the controller runtime's and API client's series,
/// `/metrics-spod` the operator's own `security_profiles_operator_*` counters. Both also carry
/// the process metrics, read at scrape time.
///
/// Bootstrap `MetricsSystem` with ``factory`` once; code keeps using swift-metrics' `Counter`,
/// `Timer` and `Gauge`, and each family gets its `# HELP` text from the table given here.
public final class MetricsRegistry: Sendable {
    /// Where a scrape path's series come from.
    public enum Endpoint: String, Sendable, CaseIterable {
        case controller = "/metrics"
        case operatorCounters = "/metrics-spod"
    }

    let controller = PrometheusCollectorRegistry()
    let operatorCounters = PrometheusCollectorRegistry()
    let help: [String: String]
    let operatorFamilies: Set<String>
    let durationBuckets: [String: [Duration]]

    /// - Parameters:
    ///   - help: `# HELP` text by family name.
    ///   - operatorFamilies: the families served on `/metrics-spod`; all others go to `/metrics`.
    ///   - durationBuckets: histogram buckets of `Timer`s by family name (default buckets otherwise).
    public init(help: [String: String], operatorFamilies: Set<String>, durationBuckets: [String: [Duration]] = [:]) {
        self.help = help
        self.operatorFamilies = operatorFamilies
        self.durationBuckets = durationBuckets
    }

    /// The swift-metrics backend writing into these registries.
    public var factory: any MetricsFactory { RoutingFactory(registry: self) }

    /// The exposition (text format 0.0.4) of one endpoint: process metrics, then the registry's families.
    public func exposition(_ endpoint: Endpoint) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        ProcessMetrics.current().emit(into: &buffer)
        registry(for: endpoint).emit(into: &buffer)
        return buffer
    }

    func registry(for endpoint: Endpoint) -> PrometheusCollectorRegistry {
        switch endpoint {
        case .controller: controller
        case .operatorCounters: operatorCounters
        }
    }

    func registry(forFamily name: String) -> PrometheusCollectorRegistry {
        operatorFamilies.contains(name) ? operatorCounters : controller
    }

    static let defaultDurationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]
    static let defaultValueBuckets: [Double] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
}

/// swift-metrics → Prometheus, choosing the registry and the help text by family name.
private struct RoutingFactory: MetricsFactory {
    let registry: MetricsRegistry

    private func target(_ label: String) -> (PrometheusCollectorRegistry, String) {
        (registry.registry(forFamily: label), registry.help[label] ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        let (target, help) = target(label)
        return target.makeCounter(name: label, labels: dimensions, help: help)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        let (target, help) = target(label)
        return target.makeCounter(name: label, labels: dimensions, help: help)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let (target, help) = target(label)
        if aggregate {
            return target.makeValueHistogram(name: label, labels: dimensions, buckets: MetricsRegistry.defaultValueBuckets, help: help)
        }
        return target.makeGauge(name: label, labels: dimensions, help: help)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        let (target, help) = target(label)
        return target.makeGauge(name: label, labels: dimensions, help: help)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let (target, help) = target(label)
        let buckets = registry.durationBuckets[label] ?? MetricsRegistry.defaultDurationBuckets
        return target.makeDurationHistogram(name: label, labels: dimensions, buckets: buckets, help: help)
    }

    // A handler does not tell its family's name, so it is unregistered from both registries
    // (removal matches the handler's identity, so the other registry is unaffected).
    private var both: [PrometheusCollectorRegistry] { [registry.controller, registry.operatorCounters] }

    func destroyCounter(_ handler: any CounterHandler) {
        guard let counter = handler as? Prometheus.Counter else { return }
        for target in both { target.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        guard let counter = handler as? Prometheus.Counter else { return }
        for target in both { target.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        switch handler {
        case let gauge as Prometheus.Gauge: for target in both { target.unregisterGauge(gauge) }
        case let histogram as ValueHistogram: for target in both { target.unregisterValueHistogram(histogram) }
        default: break
        }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        guard let gauge = handler as? Prometheus.Gauge else { return }
        for target in both { target.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        guard let histogram = handler as? DurationHistogram else { return }
        for target in both { target.unregisterDurationHistogram(histogram) }
    }
}
