// Measures a running webhook process, as kube-apiserver would load it:
//
//   webhook-bench --kubeconfig FILE --url https://127.0.0.1:9443 --ca FILE --pid PID [--seconds 10] [--rate 200] [--concurrency 16]
//
// Seeds the namespace `bench` with 20 ProfileBindings (their SeccompProfiles reported
// Installed) and 5 ProfileRecordings, then posts AdmissionReviews for a pod with 3 containers
// (two bound images, one recorded by a recording) to both webhooks over kept-alive HTTPS
// connections: first at a fixed rate (open loop: latency is measured from each request's
// scheduled time), then as fast as `--concurrency` connections go (saturation). Reports
// latency p50/p99, throughput and the webhook's RSS idle and under load.

import AsyncHTTPClient
import BenchSupport
import Foundation
import KubeClient
import KubeModels
import NIOCore
import NIOHTTP1
import NIOSSL
import SPOAPI
import Synchronization

struct Options {
    var kubeconfig: String
    var url: String
    var ca: String
    var pid: Int32
    var seconds: Int
    var rate: Int
    var concurrency: Int

    init(_ arguments: [String]) {
        let flags = BenchFlags(
            arguments, known: ["--kubeconfig", "--url", "--ca", "--pid", "--seconds", "--rate", "--concurrency"],
            required: ["--kubeconfig", "--url", "--ca", "--pid"])
        kubeconfig = flags.string("--kubeconfig")
        url = flags.string("--url")
        ca = flags.string("--ca")
        pid = Int32(flags.int("--pid", default: 0))
        seconds = flags.int("--seconds", default: 10)
        rate = flags.int("--rate", default: 200)
        concurrency = flags.int("--concurrency", default: 16)
    }
}

let options = Options(CommandLine.arguments)
let namespace = "bench"
var configuration = try KubeConfigLoader().load(kubeconfigPath: options.kubeconfig)
configuration.qps = 10_000
configuration.burst = 10_000

// MARK: Seed

try await KubernetesClient.withClient(configuration: configuration) { client in
    _ = try? await client.resource(Namespace.self).create(Namespace(metadata: ObjectMeta(name: namespace, labels: [
        SPOMetadata.enableBindingLabel: "", SPOMetadata.enableRecordingLabel: "",
    ])))
    try await inParallel(Array(0..<20)) { index in
        let profile = try await client.resource(SeccompProfile.self).create(SeccompProfile(
            metadata: ObjectMeta(name: "profile-\(index)", namespace: namespace), spec: .init(defaultAction: .errno)))
        _ = try await client.resource(SeccompProfile.self).updateStatus(cached: profile) { profile in
            profile.status = .init(status: .installed, localhostProfile: SeccompProfile.localhostProfile(namespace: namespace, name: "profile-\(index)"))
        }
        _ = try await client.resource(ProfileBinding.self).create(ProfileBinding(
            metadata: ObjectMeta(name: "binding-\(index)", namespace: namespace),
            spec: .init(profileRef: .init(kind: .seccompProfile, name: "profile-\(index)"), image: "registry.example/app-\(index):1")))
    }
    try await inParallel(Array(0..<5)) { index in
        _ = try await client.resource(ProfileRecording.self).create(ProfileRecording(
            metadata: ObjectMeta(name: "recording-\(index)", namespace: namespace),
            spec: .init(kind: .seccompProfile, recorder: index % 2 == 0 ? .logs : .bpf, podSelector: LabelSelector(matchLabels: ["app": "bench-\(index)"]))))
    }
}

// MARK: Load

let pod: JSONValue = [
    "metadata": ["generateName": "bench-", "namespace": .string(namespace), "labels": ["app": "bench-0"]],
    "spec": ["containers": [
        ["name": "first", "image": "registry.example/app-3:1"],
        ["name": "second", "image": "registry.example/app-17:1"],
        ["name": "third", "image": "nginx:1.27"],
    ]],
]
func review(_ index: Int) -> [UInt8] {
    let request = AdmissionRequest(
        uid: "bench-\(index)", kind: GroupVersionKindRef(version: "v1", kind: "Pod"), resource: GroupVersionKindRef(version: "v1", resource: "pods"),
        name: "", namespace: namespace, operation: "CREATE", object: pod)
    return Array((try? JSONEncoder().encode(AdmissionReview(apiVersion: "admission.k8s.io/v1", request: request))) ?? Data())
}
let bodies = (0..<64).map(review)
let paths = ["/mutate-v1-pod-binding?timeout=10s", "/mutate-v1-pod-recording?timeout=10s"]

var tls = TLSConfiguration.makeClientConfiguration()
tls.trustRoots = .file(options.ca)
var clientConfiguration = HTTPClient.Configuration(tlsConfiguration: tls)
clientConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(options.concurrency, 32))
clientConfiguration.httpVersion = .http1Only
let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)

/// One admission; true when answered 200 with an allowed response that changed the pod.
@Sendable func admit(_ index: Int) async -> Bool {
    var request = HTTPClientRequest(url: options.url + paths[index % 2])
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    request.body = .bytes(ByteBuffer(bytes: bodies[index % bodies.count]))
    guard let response = try? await http.execute(request, timeout: .seconds(10)), response.status == .ok,
          let body = try? await response.body.collect(upTo: 1 << 20),
          let answer = try? JSONDecoder().decode(AdmissionReview.self, from: Data(body.readableBytesView))
    else { return false }
    return answer.response?.allowed == true && answer.response?.patch != nil
}

// Warm the connections and wait until the webhook's caches hold every binding.
_ = try await waitUntil(timeout: .seconds(60)) { await admit(0) }
for index in 0..<200 { _ = await admit(index) }
try await Task.sleep(for: .seconds(1))
let idle = processStats(options.pid)
report("webhook RSS idle (caches filled)", String(format: "%.1f MiB (%@)", idle.rssMiB, rssParts(options.pid)))

let peakRSS = Mutex(0.0)
let sampling = Task {
    while !Task.isCancelled {
        let rss = processStats(options.pid).rssMiB
        peakRSS.withLock { $0 = max($0, rss) }
        try? await Task.sleep(for: .milliseconds(100))
    }
}

// Open loop at the fixed rate.
let total = options.rate * options.seconds
let interval = Duration.nanoseconds(1_000_000_000 / options.rate)
let latencies = Mutex<[Duration]>([])
let failures = Atomic<Int>(0)
let start = ContinuousClock.now
let cpuBefore = processStats(options.pid).cpuSeconds
await withTaskGroup(of: Void.self) { group in
    for index in 0..<total {
        let scheduled = start + interval * index
        try? await Task.sleep(until: scheduled)
        group.addTask {
            let ok = await admit(index)
            let elapsed = ContinuousClock.now - scheduled
            if !ok { failures.add(1, ordering: .relaxed) }
            latencies.withLock { $0.append(elapsed) }
        }
    }
}
let elapsed = ContinuousClock.now - start
let fixed = latencies.withLock { $0 }
let fixedCPU = processStats(options.pid).cpuSeconds - cpuBefore
report("\(options.rate) req/s for \(options.seconds) s: p50 / p99 / max", String(
    format: "%.2f / %.2f / %.2f ms", percentile(fixed, 0.5), percentile(fixed, 0.99), fixed.map(\.milliseconds).max() ?? 0))
report("  achieved, failed", String(format: "%.0f req/s, %d failed", Double(fixed.count) / (elapsed.milliseconds / 1000), failures.load(ordering: .relaxed)))
report("  webhook CPU per request", String(format: "%.1f µs", fixedCPU / Double(max(1, fixed.count)) * 1e6))
report("  webhook RSS peak at this rate", String(format: "%.1f MiB (now %@)", peakRSS.withLock { $0 }, rssParts(options.pid)))
peakRSS.withLock { $0 = 0 }

// Saturation: as fast as the connections go.
let saturationLatencies = Mutex<[Duration]>([])
let next = Atomic<Int>(0)
let saturationStart = ContinuousClock.now
let saturationEnd = saturationStart + .seconds(options.seconds)
await withTaskGroup(of: Void.self) { group in
    for _ in 0..<options.concurrency {
        group.addTask {
            while ContinuousClock.now < saturationEnd {
                let index = next.add(1, ordering: .relaxed).oldValue
                let began = ContinuousClock.now
                if !(await admit(index)) { failures.add(1, ordering: .relaxed) }
                saturationLatencies.withLock { $0.append(ContinuousClock.now - began) }
            }
        }
    }
}
let saturated = saturationLatencies.withLock { $0 }
let saturationSeconds = (ContinuousClock.now - saturationStart).milliseconds / 1000
report("saturation (\(options.concurrency) connections): throughput", String(format: "%.0f req/s", Double(saturated.count) / saturationSeconds))
report("  p50 / p99", String(format: "%.2f / %.2f ms", percentile(saturated, 0.5), percentile(saturated, 0.99)))
sampling.cancel()
report("  webhook RSS peak at saturation", String(format: "%.1f MiB (now %@)", peakRSS.withLock { $0 }, rssParts(options.pid)))
report("failed requests (all phases)", "\(failures.load(ordering: .relaxed))")
try? await http.shutdown()

/// The anonymous and file-backed parts of the RSS, from /proc/<pid>/status.
func rssParts(_ pid: Int32) -> String {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    func field(_ name: String) -> Double {
        status.split(separator: "\n").first { $0.hasPrefix(name + ":") }?
            .split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) }.map { $0 / 1024 } ?? 0
    }
    return String(format: "anonymous %.1f, files %.1f MiB", field("RssAnon"), field("RssFile"))
}
