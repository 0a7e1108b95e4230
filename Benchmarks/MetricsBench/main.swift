import BenchSupport
import CMallocCounter
import CoreMetrics
import Foundation
import Glibc
import SPOAPI
import SPOServer

// Scrape cost of /metrics-spod with a large audit registry: what a log enricher on a busy node
// produces (one series per node/namespace/pod/container/executable/syscall).
//
//   swift run -c release metrics-bench [--series 10000] [--scrapes 200]

let flags = BenchFlags(CommandLine.arguments, known: ["--series", "--scrapes"], required: [])
let seriesCount = flags.int("--series", default: 10_000)
let scrapes = flags.int("--scrapes", default: 200)

let registry = OperatorMetricsCatalog.makeRegistry()
let factory = registry.factory
let syscalls = ["read", "write", "openat", "close", "mmap", "futex", "epoll_wait", "recvfrom", "sendto", "mkdir"]

func heapBytes() -> Int { Int(malloc_counter_heap_bytes()) }

/// Counts one audit line into series number `series` (labels formatted each time, as an enricher does).
func countAudit(series: Int) {
    let labels = zip(OperatorMetric.seccompProfileAudit.labelNames, [
        "node-1", "namespace-\(series % 50)", "pod-\(series / 10)", "container-\(series % 3)", "/usr/bin/app-\(series % 7)",
        syscalls[series % syscalls.count],
    ]).map { ($0, $1) }
    Counter(label: OperatorMetric.seccompProfileAudit.name, dimensions: labels, factory: factory).increment()
}

let heapBefore = heapBytes()
let rssBefore = processStats(getpid()).rssMiB
let allocationsBefore = malloc_counter_allocations()
let createStart = ContinuousClock.now
for index in 0..<seriesCount {
    countAudit(series: index)
}
let createTime = ContinuousClock.now - createStart
let allocationsPerSeries = Double(malloc_counter_allocations() - allocationsBefore) / Double(seriesCount)
let heapPerSeries = Double(heapBytes() - heapBefore) / Double(seriesCount)
let rssAfter = processStats(getpid()).rssMiB

// The hot path of an enricher: counting into series that exist already.
let increments = 100_000
let incrementStart = ContinuousClock.now
for index in 0..<increments {
    countAudit(series: index % seriesCount)
}
let incrementTime = ContinuousClock.now - incrementStart

// One warm-up scrape sizes the buffers, as the server's first scrape does.
var size = registry.exposition(.operatorCounters).count
var latencies: [Duration] = []
var allocations: [UInt64] = []
for _ in 0..<scrapes {
    let before = malloc_counter_allocations()
    let start = ContinuousClock.now
    size = registry.exposition(.operatorCounters).count
    latencies.append(ContinuousClock.now - start)
    allocations.append(malloc_counter_allocations() - before)
}
allocations.sort()

print("metrics-bench: \(seriesCount) audit series, \(scrapes) scrapes of /metrics-spod (exposition only, no TLS)")
report("series created in", String(format: "%.1f ms (%.2f µs each)", createTime.milliseconds, createTime.milliseconds * 1000 / Double(seriesCount)))
report("increment of an existing series", String(format: "%.2f µs (%d increments)", incrementTime.milliseconds * 1000 / Double(increments), increments))
report("heap per series (mallinfo2)", String(format: "%.0f bytes", heapPerSeries))
report("RSS growth per series", String(format: "%.0f bytes (%.1f MiB in all)", (rssAfter - rssBefore) * 1_048_576 / Double(seriesCount), rssAfter - rssBefore))
report("allocations per new series", String(format: "%.1f", allocationsPerSeries))
report("exposition size", String(format: "%.2f MiB", Double(size) / 1_048_576))
report("scrape latency p50 / p90 / max", String(format: "%.2f / %.2f / %.2f ms", percentile(latencies, 0.5), percentile(latencies, 0.9), percentile(latencies, 1.0)))
report("allocations per scrape p50 / max", "\(allocations[allocations.count / 2]) / \(allocations.last ?? 0)")
