// Measures a running node daemon through the API and the file system, whoever wrote it:
//
//   daemon-bench --kubeconfig FILE --pid PID --kubelet-dir DIR [--profiles 1000] [--namespaces 10]
//   daemon-bench --kubeconfig FILE --pid PID --kubelet-dir DIR --pods 5000 [--node bench-node]
//
// Creates SeccompProfiles (about 60 syscalls each) and measures when their files appear under
// <kubelet dir>/seccomp/operator and when their node statuses say Installed, the daemon's RSS
// and CPU time (from /proc/PID), and single create/update/delete → file latencies.

import Foundation
import KubeClient
import KubeModels
import SPOAPI
import BenchSupport

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var kubeconfig = ""
    var pid: Int32 = 0
    var kubeletDirectory = ""
    var profiles = 1000
    var namespaces = 10
    /// With `--pods`: only the recorder's pod cache is measured (pods of the node, none
    /// labelled for recording), instead of profiles.
    var pods = 0
    var node = "bench-node"

    init(_ arguments: [String]) {
        let flags = BenchFlags(
            arguments, known: ["--kubeconfig", "--pid", "--kubelet-dir", "--profiles", "--namespaces", "--pods", "--node"],
            required: ["--kubeconfig", "--pid", "--kubelet-dir"])
        kubeconfig = flags.string("--kubeconfig")
        pid = Int32(flags.int("--pid", default: 0))
        precondition(pid > 0, "--pid must be the measured process's id")
        kubeletDirectory = flags.string("--kubelet-dir")
        profiles = flags.int("--profiles", default: profiles)
        namespaces = flags.int("--namespaces", default: namespaces)
        pods = flags.int("--pods", default: 0)
        node = flags.string("--node", default: node)
    }
}

/// Syscalls a typical service allows; each profile takes 60 of them.
let syscallPool = [
    "accept4", "access", "arch_prctl", "bind", "brk", "capget", "capset", "chdir", "clock_gettime", "clock_nanosleep",
    "clone", "close", "connect", "dup2", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_wait", "eventfd2", "execve",
    "exit", "exit_group", "fchown", "fcntl", "fstat", "fstatfs", "futex", "getcwd", "getdents64", "getegid", "geteuid",
    "getgid", "getpid", "getppid", "getrandom", "getrlimit", "getsockname", "getsockopt", "gettid", "getuid", "ioctl",
    "listen", "lseek", "madvise", "mmap", "mprotect", "munmap", "nanosleep", "newfstatat", "openat", "pipe2", "prctl",
    "pread64", "prlimit64", "read", "readlink", "recvfrom", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "sched_getaffinity", "sched_yield", "sendto", "set_robust_list", "set_tid_address", "setgid", "setgroups",
    "setsockopt", "setuid", "sigaltstack", "socket", "stat", "statfs", "tgkill", "uname", "write", "writev",
]

func profile(_ index: Int, namespace: String, prefix: String = "bench") -> SeccompProfile {
    let names = (0..<60).map { syscallPool[($0 + index) % syscallPool.count] }
    return SeccompProfile(
        metadata: ObjectMeta(name: "\(prefix)-\(index)", namespace: namespace),
        spec: .init(defaultAction: .errno, syscalls: [.init(names: Array(Set(names)).sorted(), action: .allow)]))
}

func fileExists(_ options: Options, _ namespace: String, _ name: String) -> Bool {
    FileManager.default.fileExists(atPath: "\(options.kubeletDirectory)/seccomp/operator/\(namespace)/\(name).json")
}

let options = Options(CommandLine.arguments)
var configuration = try KubeConfigLoader().load(kubeconfigPath: options.kubeconfig)
// The benchmark's own requests must not be what is measured.
configuration.qps = 10_000
configuration.burst = 10_000
try await KubernetesClient.withClient(configuration: configuration) { client in
    let profiles = client.resource(SeccompProfile.self)
    let statuses = client.resource(SecurityProfileNodeStatus.self)
    let namespaces = (0..<options.namespaces).map { "bench-\($0)" }

    // A daemon that is gone (e.g. it could not bind its ports) would leave every wait below
    // waiting forever: say so instead.
    func daemonRunning() throws -> Bool {
        guard FileManager.default.fileExists(atPath: "/proc/\(options.pid)/stat") else {
            throw BenchError("daemon PID \(options.pid) is not running; see its log")
        }
        return true
    }
    _ = try daemonRunning()
    let idle = processStats(options.pid)
    report("daemon RSS idle", String(format: "%.1f MiB", idle.rssMiB))

    if options.pods > 0 {
        // A pod as a kubelet reports it: two containers with env, mounts and probes, statuses.
        @Sendable func pod(_ index: Int) -> Pod {
            let containers: JSONValue = .array((0..<2).map { container in [
                "name": .string("app-\(container)"), "image": .string("registry.example/team/app:1.2.\(index % 7)"),
                "env": .array((0..<8).map { ["name": .string("SETTING_\($0)"), "value": .string("value-\(index)-\($0)")] }),
                "volumeMounts": [["name": "data", "mountPath": "/data"], ["name": "token", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true]],
                "readinessProbe": ["httpGet": ["path": "/ready", "port": 8080], "periodSeconds": 5],
                "resources": ["requests": ["cpu": "100m", "memory": "128Mi"], "limits": ["memory": "256Mi"]],
            ] })
            var value = Pod(
                metadata: ObjectMeta(name: "pod-\(index)", namespace: namespaces[index % namespaces.count], labels: ["app": "app-\(index % 50)", "pod-template-hash": "5d8f7c9b\(index % 10)"]),
                spec: ["nodeName": .string(options.node), "containers": containers, "volumes": [["name": "data", "emptyDir": [:]]], "serviceAccountName": "default"])
            value.status = ["phase": "Running", "podIP": .string("10.0.\(index / 250).\(index % 250)"),
                            "containerStatuses": .array((0..<2).map { ["name": .string("app-\($0)"), "containerID": .string("containerd://\(String(repeating: String(format: "%08x", index * 2 + $0), count: 8))"), "ready": true, "restartCount": 0] })]
            return value
        }
        let pods = client.resource(Pod.self)
        let start = ContinuousClock.now
        try await inParallel(Array(0..<options.pods)) { index in _ = try await pods.create(pod(index)) }
        report("\(options.pods) pods on the node created (client side)", String(format: "%.2f s", (ContinuousClock.now - start).milliseconds / 1000))
        // The daemon's informer sees them within a watch round trip; then let it settle.
        try await Task.sleep(for: .seconds(10))
        _ = try daemonRunning()
        let loaded = processStats(options.pid)
        report("daemon RSS with \(options.pods) pods on its node", String(format: "%.1f MiB (+%.1f MiB)", loaded.rssMiB, loaded.rssMiB - idle.rssMiB))
        report("daemon CPU seconds for them", String(format: "%.2f s", loaded.cpuSeconds - idle.cpuSeconds))
        return
    }

    // Bulk: all profiles created at once (16 requests in flight).
    let bulkStart = ContinuousClock.now
    try await inParallel(Array(0..<options.profiles)) { index in
        _ = try await profiles.create(profile(index, namespace: namespaces[index % namespaces.count]))
    }
    let created = ContinuousClock.now - bulkStart
    var remaining = Set(0..<options.profiles)
    _ = try await waitUntil {
        _ = try daemonRunning()
        remaining = remaining.filter { !fileExists(options, namespaces[$0 % namespaces.count], "bench-\($0)") }
        return remaining.isEmpty
    }
    let allFiles = ContinuousClock.now - bulkStart
    _ = try await waitUntil {
        _ = try daemonRunning()
        let installed = try await statuses.listAll(options: ListOptions(labelSelector: "spo.x-k8s.io/profile-state=Installed"))
        return installed.items.count >= options.profiles
    }
    let allInstalled = ContinuousClock.now - bulkStart
    let loaded = processStats(options.pid)
    report("bulk: \(options.profiles) profiles created (client side)", String(format: "%.2f s", created.milliseconds / 1000))
    report("bulk: all files on disk", String(format: "%.2f s", allFiles.milliseconds / 1000))
    report("bulk: all node statuses Installed", String(format: "%.2f s", allInstalled.milliseconds / 1000))
    report("bulk: daemon CPU seconds", String(format: "%.2f s", loaded.cpuSeconds - idle.cpuSeconds))
    report("daemon RSS with \(options.profiles) profiles", String(format: "%.1f MiB", loaded.rssMiB))

    // Single operations, one at a time.
    var creates: [Duration] = [], updates: [Duration] = [], deletes: [Duration] = []
    for index in 0..<50 {
        let namespace = namespaces[index % namespaces.count]
        let name = "single-\(index)"
        let start = ContinuousClock.now
        _ = try await profiles.create(profile(index, namespace: namespace, prefix: "single"))
        _ = try await waitUntil { try daemonRunning() && fileExists(options, namespace, name) }
        creates.append(ContinuousClock.now - start)
    }
    for index in 0..<50 {
        let namespace = namespaces[index % namespaces.count]
        let name = "single-\(index)"
        let path = "\(options.kubeletDirectory)/seccomp/operator/\(namespace)/\(name).json"
        let before = FileManager.default.contents(atPath: path)
        let start = ContinuousClock.now
        _ = try await profiles.patch(name, namespace: namespace, patch: .merge(["spec": ["defaultAction": "SCMP_ACT_LOG"]]))
        _ = try await waitUntil { try daemonRunning() && FileManager.default.contents(atPath: path) != before }
        updates.append(ContinuousClock.now - start)
    }
    for index in 0..<50 {
        let namespace = namespaces[index % namespaces.count]
        let name = "single-\(index)"
        let start = ContinuousClock.now
        try await profiles.delete(name, namespace: namespace)
        _ = try await waitUntil { try daemonRunning() && !fileExists(options, namespace, name) }
        deletes.append(ContinuousClock.now - start)
    }
    for (label, values) in [("create → file", creates), ("update → file changed", updates), ("delete → file removed", deletes)] {
        report("\(label) (50): p50 / p90 / max", String(format: "%.1f / %.1f / %.1f ms", percentile(values, 0.5), percentile(values, 0.9), values.map(\.milliseconds).max() ?? 0))
    }
    report("total daemon CPU seconds", String(format: "%.2f s", processStats(options.pid).cpuSeconds - idle.cpuSeconds))
}
