import CoreMetrics

/// The API client's request series, with client-go's names so that controller-runtime
/// dashboards work: `rest_client_requests_total{code,host,method}` (code `<error>` when no
/// response came) and `rest_client_request_duration_seconds{verb,host}` (time to the response
/// headers). Recorded through the process's bootstrapped `MetricsSystem`.
public enum ClientMetrics {
    public static let requests = "rest_client_requests_total"
    public static let requestDuration = "rest_client_request_duration_seconds"

    /// `# HELP` texts by family name.
    public static let help: [String: String] = [
        requests: "Number of HTTP requests, partitioned by status code, method, and host.",
        requestDuration: "Request latency in seconds. Broken down by verb, and host.",
    ]

    static func record(method: String, host: String, code: String, duration: Duration) {
        Counter(label: requests, dimensions: [("code", code), ("host", host), ("method", method)]).increment()
        let (seconds, attoseconds) = duration.components
        Timer(label: requestDuration, dimensions: [("verb", method), ("host", host)])
            .recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
