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

