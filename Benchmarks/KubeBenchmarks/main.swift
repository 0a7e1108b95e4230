// Figures for the Kubernetes client and runtime, printed as a table.
//
//   swift run -c release kube-benchmarks            # all benchmarks
//   swift run -c release kube-benchmarks decode     # one of: decode, list, informer, watch
//
// Each figure is the median of several runs on this machine; nothing here asserts a time.

import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Fixtures

/// A ConfigMap of about 2 KiB encoded, shaped like real ones (labels, annotations, data).
func configMap(_ index: Int, namespace: String = "bench") -> ConfigMap {
    var metadata = ObjectMeta(name: "object-\(index)", namespace: namespace)
    metadata.labels = ["app.kubernetes.io/name": "bench", "app.kubernetes.io/instance": "i-\(index % 17)", "tier": "backend"]
    metadata.annotations = ["example.com/owner": "team-\(index % 5)", "example.com/description": String(repeating: "d", count: 120)]
    var data: [String: String] = [:]
    for key in 0..<12 { data["key-\(key)"] = String(repeating: Character(UnicodeScalar(97 + key)!), count: 120) }
    return ConfigMap(metadata: metadata, data: data)
}

/// The encoded watch lines of `count` events for `configMap(_:)` objects.
func watchLines(count: Int) throws -> [UInt8] {
    var bytes: [UInt8] = []
    let encoder = JSONEncoder()
    for index in 0..<count {
        var object = configMap(index)
        object.metadata.uid = UUID().uuidString.lowercased()
        object.metadata.resourceVersion = String(1000 + index)
        object.metadata.creationTimestamp = "2026-11-23T10:00:00Z"
        let event: JSONValue = ["type": "MODIFIED", "object": try JSONValue(encoding: object)]
        bytes += try encoder.encode(event)
        bytes.append(UInt8(ascii: "\n"))
    }
    return bytes
}

// MARK: - Measurement helpers

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func measure(runs: Int, _ body: () async throws -> Void) async rethrows -> Double {
    var seconds: [Double] = []
    for _ in 0..<runs {
        let start = ContinuousClock.now
        try await body()
        seconds.append((ContinuousClock.now - start).seconds)
    }
    return median(seconds)
}

/// Resident set size in bytes after returning freed memory to the system.
func residentBytes() -> Int {
    #if canImport(Glibc)
    // malloc.h is not in Glibc's module map; look malloc_trim up at run time.
    if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") {
        _ = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)(0)
    }
    #endif
    guard let status = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = status.split(separator: " ")
    return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func report(_ name: String, _ value: String) {
    print(name.padding(toLength: 58, withPad: " ", startingAt: 0) + value)
}

func format(_ value: Double, _ unit: String) -> String {
    String(format: "%.1f %@", value, unit)
}

/// An async sequence of network-sized chunks, as an HTTP body delivers them.
struct Chunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let bytes: [UInt8]
    let size: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        let bytes: [UInt8]
        let size: Int
        var offset = 0
        mutating func next() async -> ByteBuffer? {
            guard offset < bytes.count else { return nil }
            let end = Swift.min(offset + size, bytes.count)
            defer { offset = end }
            return ByteBuffer(bytes: bytes[offset..<end])
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(bytes: bytes, size: size) }
}

// MARK: - Benchmarks

/// Watch-event decoding: NIO line splitting plus typed decoding, one core, no network.
func benchmarkDecode() async throws {
    let count = 20_000
    let bytes = try watchLines(count: count)
    let averageSize = Double(bytes.count) / Double(count)
    let decoder = WatchEventDecoder<ConfigMap>()
    let seconds = try await measure(runs: 5) {
        var decoded = 0
        for try await line in Chunks(bytes: bytes, size: 16 * 1024).splitLines(omittingEmptySubsequences: true, maximumBufferSize: 16 << 20) {
            if case .modified = try decoder.decode(line) { decoded += 1 }
        }
        precondition(decoded == count)
    }
    report("watch decode: event size", format(averageSize, "bytes"))
    report("watch decode: events/s (split + decode, 1 core)", format(Double(count) / seconds, "events/s"))
    report("watch decode: throughput", format(Double(bytes.count) / seconds / 1_048_576, "MiB/s"))
}

/// Seeds `count` objects into a fresh test API server and runs `body` with a client.
func withSeededServer(count: Int, _ body: (KubernetesClient, KubeTestServer) async throws -> Void) async throws {
    try await KubeTestServer.withServer(historyLimit: count + 10) { server in
        for index in 0..<count { try server.seed(configMap(index)) }
        try await KubernetesClient.withClient(configuration: server.clientConfiguration()) { client in
            try await body(client, server)
        }
    }
}

/// Listing 10,000 objects over HTTP from the in-process API server, decoded into typed objects.
func benchmarkList() async throws {
    let count = 10_000
    try await withSeededServer(count: count) { client, _ in
        let configMaps = client.resource(ConfigMap.self)
        let unpaged = try await measure(runs: 5) {
            let list = try await configMaps.list(namespace: "bench")
            precondition(list.items.count == count)
        }
        let paged = try await measure(runs: 5) {
            let list = try await configMaps.listAll(namespace: "bench", options: ListOptions(limit: 500))
            precondition(list.items.count == count)
        }
        report("list 10k objects, one request", format(unpaged * 1000, "ms") + "  (" + format(Double(count) / unpaged, "objects/s") + ")")
        report("list 10k objects, pages of 500", format(paged * 1000, "ms") + "  (" + format(Double(count) / paged, "objects/s") + ")")
    }
}

/// Watch end to end: 10,000 ADDED events streamed over HTTP and decoded.
func benchmarkWatch() async throws {
    let count = 10_000
    try await withSeededServer(count: count) { client, _ in
        let configMaps = client.resource(ConfigMap.self)
        let seconds = try await measure(runs: 3) {
            var seen = 0
            for try await event in try await configMaps.watch(namespace: "bench", options: ListOptions(timeoutSeconds: 60)) {
                if case .added = event { seen += 1 }
                if seen == count { break }
            }
        }
        report("watch 10k events over HTTP (server + client)", format(Double(count) / seconds, "events/s"))
    }
}

/// Informer cache memory: RSS growth while an informer lists and caches 10,000 objects.
func benchmarkInformer() async throws {
    let count = 10_000
    try await withSeededServer(count: count) { client, _ in
        let before = residentBytes()
        let informer = Informer(client: client.resource(ConfigMap.self), namespace: "bench", logger: Logger(label: "bench"))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await informer.run() }
            let start = ContinuousClock.now
            await informer.waitForSync()
            let synced = ContinuousClock.now - start
            precondition(informer.store.count == count)
            let after = residentBytes()
            report("informer: initial sync of 10k objects", format(synced.seconds * 1000, "ms"))
            report("informer: RSS delta for 10k cached objects", format(Double(after - before) / 1_048_576, "MiB"))
            report("informer: RSS delta per object", format(Double(after - before) / Double(count), "bytes"))
            group.cancelAll()
        }
    }
}

// MARK: - Main

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .error
    return handler
}

let selected = Set(CommandLine.arguments.dropFirst())
let all: [(String, () async throws -> Void)] = [
    ("decode", benchmarkDecode), ("informer", benchmarkInformer), ("list", benchmarkList), ("watch", benchmarkWatch),
]
print("benchmark".padding(toLength: 58, withPad: " ", startingAt: 0) + "median")
for (name, run) in all where selected.isEmpty || selected.contains(name) {
    try await run()
}
