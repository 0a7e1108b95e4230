import KubeClient
import KubeRuntime
import SPOAPI

/// Every metric family the operator's processes produce, with its help text and endpoint:
/// the `security_profiles_operator_*` counters on `/metrics-spod`, the controller runtime's and
/// API client's families on `/metrics`.
public enum OperatorMetricsCatalog {
    /// A registry that knows every family's help text, buckets and endpoint.
    public static func makeRegistry() -> MetricsRegistry {
        var help = RuntimeMetricFamilies.help.merging(ClientMetrics.help) { first, _ in first }
        for family in OperatorMetric.allCases { help[family.name] = family.help }
        return MetricsRegistry(
            help: help, operatorFamilies: Set(OperatorMetric.allCases.map(\.name)),
            durationBuckets: RuntimeMetricFamilies.durationBuckets)
    }
}
