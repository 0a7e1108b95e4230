// What the process benchmarks share: /proc figures of the measured process, polling, percentiles
// and aligned output.

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Resident memory (MiB) and CPU time (user + system, seconds) of a process, from /proc.
public func processStats(_ pid: Int32) -> (rssMiB: Double, cpuSeconds: Double) {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let rssKiB = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?
        .split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) } ?? 0
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    // Fields after the command name (which is in parentheses): utime is 14th, stime 15th overall.
    let fields = stat.split(separator: ")").last?.split(separator: " ").map(String.init) ?? []
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    let cpu = fields.count > 13 ? ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks : 0
    return (rssKiB / 1024, cpu)
}

public func waitUntil(
    timeout: Duration = .seconds(600), isolation: isolated (any Actor)? = #isolation, _ condition: () async throws -> Bool
) async throws -> Duration {
    let start = ContinuousClock.now
    while try await !condition() {
        if ContinuousClock.now - start > timeout { throw CancellationError() }
        try await Task.sleep(for: .milliseconds(1))
    }
    return ContinuousClock.now - start
}

public func percentile(_ values: [Duration], _ fraction: Double) -> Double {
    let sorted = values.map { $0.milliseconds }.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction + 0.5))]
}

extension Duration {
    public var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}

public func report(_ name: String, _ value: String) {
    print(name.padding(toLength: 52, withPad: " ", startingAt: 0) + value)
}


/// A benchmark's `--flag value` arguments; `--help`, an unknown flag or a missing required one
/// prints the usage and exits (0 for `--help`, 2 otherwise).
public struct BenchFlags {
    private var values: [String: String] = [:]

    public init(_ arguments: [String], known: Set<String>, required: [String]) {
        let program = arguments.first.map { ($0 as NSString).lastPathComponent } ?? "bench"
        func usage(_ problem: String?, status: Int32) -> Never {
            let flags = known.sorted().map { required.contains($0) ? "\($0) VALUE" : "[\($0) VALUE]" }
            let text = (problem.map { "\(program): \($0)\n" } ?? "") + "usage: \(program) \(flags.joined(separator: " "))\n"
            FileHandle.standardError.write(Data(text.utf8))
            exit(status)
        }
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            if flag == "--help" || flag == "-h" { usage(nil, status: 0) }
            guard known.contains(flag) else { usage("unknown flag \(flag)", status: 2) }
            guard let value = iterator.next() else { usage("\(flag) needs a value", status: 2) }
            values[flag] = value
        }
        let missing = required.filter { (values[$0] ?? "").isEmpty }
        if !missing.isEmpty { usage("missing \(missing.joined(separator: ", "))", status: 2) }
    }

    public func string(_ flag: String, default fallback: String = "") -> String { values[flag] ?? fallback }

    public func int(_ flag: String, default fallback: Int) -> Int { values[flag].flatMap { Int($0) } ?? fallback }
}

/// Runs `work` for every element with `width` requests in flight.
public func inParallel<T: Sendable>(_ items: [T], width: Int = 16, _ work: @escaping @Sendable (T) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var iterator = items.makeIterator()
        for _ in 0..<width { if let item = iterator.next() { group.addTask { try await work(item) } } }
        while try await group.next() != nil {
            if let item = iterator.next() { group.addTask { try await work(item) } }
        }
    }
}

/// A benchmark that cannot go on, and why.
public struct BenchError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
