// The bpf recorder's syscall overhead (Benchmarks/recorder-bench.sh; needs root):
//
//   recorder-bench --loop .build/release/syscall-loop [--calls 1000000] [--runs 7]
//
// Runs the getppid loop in its own mount namespace (`unshare -m`, which is what makes a task a
// container to the recorder) without any BPF program, then with the node daemon's container
// recorder loaded (recorded), and in the host's mount namespace with it loaded (the cost every
// host task pays). Reports the loop's own time per call, medians of the runs.

import BenchSupport
import Foundation
import SyscallRecorder

let flags = BenchFlags(CommandLine.arguments, known: ["--loop", "--calls", "--runs"], required: ["--loop"])
let loop = flags.string("--loop")
let calls = flags.int("--calls", default: 1_000_000)
let runs = flags.int("--runs", default: 7)

/// The loop's own nanoseconds per call: median of `runs` runs of `command`.
func measure(_ command: [String]) throws -> Double {
    var samples: [Double] = []
    for _ in 0..<runs {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let ns = Double(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BenchError("\(command.joined(separator: " ")) failed (status \(process.terminationStatus))")
        }
        samples.append(ns / Double(calls))
    }
    return samples.sorted()[samples.count / 2]
}

let inContainer = ["/usr/bin/unshare", "-m", loop, "\(calls)"]
let plain = try measure(inContainer)
report("getppid in a mount namespace, no BPF", String(format: "%.0f ns/call", plain))
guard let host = ContainerSyscallRecorder.mountNamespace(ofProcess: getpid()) else { throw BenchError("cannot read this process's mount namespace") }
let started = ContinuousClock.now
let recorder = try ContainerSyscallRecorder(hostMountNamespace: host)
report("container recorder load (CO-RE, attach)", String(format: "%.0f ms", (ContinuousClock.now - started).milliseconds))
let recorded = try measure(inContainer)
report("getppid in a container, recorded", String(format: "%.0f ns/call: %.2f×", recorded, recorded / plain))
let hostTask = try measure([loop, "\(calls)"])
report("getppid on the host, recorder loaded", String(format: "%.0f ns/call: %.2f×", hostTask, hostTask / plain))
let seen = recorder.mountNamespaces().filter { $0 != host }
let getppid = seen.contains { recorder.syscalls(ofMountNamespace: $0).values.contains { $0.contains(110) } }
report("namespaces seen / getppid recorded", "\(seen.count) / \(getppid)")
