// Measures a running manager through the API, whoever wrote it:
//
//   manager-bench --kubeconfig FILE --pid PID [--namespace NS] [--profiles 1000] [--nodes 10]
//
// Plays the cluster around the manager: it acts as the DaemonSet controller (DaemonSet
// status) and as every node's daemon (SecurityProfileNodeStatuses). Reports the time from a
// spod change to the updated DaemonSet, the time until 1,000 profiles × 10 nodes of node
// statuses are aggregated into Installed, and the manager's RSS and CPU time.

import BenchSupport
import Foundation
import KubeClient
import KubeModels
import SPOAPI

struct Options {
    var kubeconfig = ""
    var pid: Int32 = 0
    var namespace = "security-profiles-operator"
    var profiles = 1000
    var nodes = 10

    init(_ arguments: [String]) {
        let flags = BenchFlags(
            arguments, known: ["--kubeconfig", "--pid", "--namespace", "--profiles", "--nodes"], required: ["--kubeconfig", "--pid"])
        kubeconfig = flags.string("--kubeconfig")
        pid = Int32(flags.int("--pid", default: 0))
        precondition(pid > 0, "--pid must be the measured process's id")
        namespace = flags.string("--namespace", default: namespace)
        profiles = flags.int("--profiles", default: profiles)
        nodes = flags.int("--nodes", default: nodes)
    }
}

let options = Options(CommandLine.arguments)
var configuration = try KubeConfigLoader().load(kubeconfigPath: options.kubeconfig)
configuration.qps = 10_000
configuration.burst = 10_000
try await KubernetesClient.withClient(configuration: configuration) { client in
    let daemonSets = client.resource(DaemonSet.self)
    let spods = client.resource(SecurityProfilesOperatorDaemon.self)
    let namespace = options.namespace
    let nodeNames = (0..<options.nodes).map { "node-\($0)" }

    // The manager creates the default spod and its DaemonSet; the DaemonSet controller then
    // reports the daemon running on every node.
    try await inParallel(nodeNames) { name in _ = try await client.resource(Node.self).create(Node(metadata: ObjectMeta(name: name))) }
    _ = try await waitUntil { (try? await daemonSets.get("spod", namespace: namespace)) != nil }
    func rollOut() async throws {
        _ = try await daemonSets.updateStatus("spod", namespace: namespace) { daemonSet in
            let count = Int64(options.nodes)
            daemonSet.status = DaemonSetStatus(
                desiredNumberScheduled: count, currentNumberScheduled: count, updatedNumberScheduled: count, numberReady: count,
                numberAvailable: count, numberUnavailable: 0, observedGeneration: daemonSet.metadata.generation)
        }
    }
    try await rollOut()
    _ = try await waitUntil { try await spods.get("spod", namespace: namespace).status?.state == .running }
    try await Task.sleep(for: .seconds(1))
    let idle = processStats(options.pid)
    report("manager RSS idle", String(format: "%.1f MiB", idle.rssMiB))

    // spod change → DaemonSet template updated.
    var reconciles: [Duration] = []
    for round in 0..<20 {
        let before = try await daemonSets.get("spod", namespace: namespace).metadata.generation
        let start = ContinuousClock.now
        _ = try await spods.patch("spod", namespace: namespace, patch: .merge(["spec": ["priorityClassName": .string("bench-\(round)")]]))
        _ = try await waitUntil { try await daemonSets.get("spod", namespace: namespace).metadata.generation != before }
        reconciles.append(ContinuousClock.now - start)
        try await rollOut()
    }
    report("spod change → DaemonSet updated (20): p50 / max", String(format: "%.1f / %.1f ms", percentile(reconciles, 0.5), reconciles.map(\.milliseconds).max() ?? 0))

    // webhookOptions patch (seed 7.7.8 / checklist 24-25) → MutatingWebhookConfiguration changed.
    let configurations = client.resource(MutatingWebhookConfiguration.self)
    _ = try await waitUntil { (try? await configurations.get("spo-mutating-webhook-configuration")) != nil }
    var webhookChanges: [Duration] = []
    for round in 0..<20 {
        let policy = round % 2 == 0 ? "Ignore" : "Fail"
        let options: JSONValue = round == 19 ? [] : [[
            "name": "binding.spo.io", "failurePolicy": .string(policy),
            "namespaceSelector": ["matchLabels": ["team": .string("t\(round)")]],
        ]]
        let start = ContinuousClock.now
        _ = try await spods.patch("spod", namespace: namespace, patch: .merge(["spec": ["webhookOptions": options]]))
        _ = try await waitUntil {
            let binding = try await configurations.get("spo-mutating-webhook-configuration").webhooks?.first
            return round == 19 ? binding?.failurePolicy == "Fail" && binding?.namespaceSelector?.matchLabels == nil
                : binding?.failurePolicy == policy && binding?.namespaceSelector?.matchLabels?["team"] == "t\(round)"
        }
        webhookChanges.append(ContinuousClock.now - start)
    }
    report("webhookOptions patch → webhook configuration (20): p50 / max", String(format: "%.1f / %.1f ms", percentile(webhookChanges, 0.5), webhookChanges.map(\.milliseconds).max() ?? 0))
    // The documented patches themselves, in order: checklist 24, checklist 25, seed 7.7.8.
    let documented: [(String, JSONValue, @Sendable (MutatingWebhookConfiguration) -> Bool)] = [
        ("checklist 24", [[
            "name": "binding.spo.io", "failurePolicy": "Ignore",
            "namespaceSelector": ["matchExpressions": [["key": "prod", "operator": "In", "values": ["true"]]]],
            "objectSelector": ["matchExpressions": [["key": "record-pod", "operator": "In", "values": ["true"]]]],
        ]], { $0.webhooks?.first?.failurePolicy == "Ignore" && $0.webhooks?.first?.objectSelector?.matchExpressions?.first?.key == "record-pod" }),
        ("checklist 25 ([])", [], { $0.webhooks?.first?.failurePolicy == "Fail" && $0.webhooks?.first?.objectSelector?.matchExpressions?.first?.key == "name" }),
        ("seed 7.7.8 (recording objectSelector)", [[
            "name": "recording.spo.io",
            "objectSelector": ["matchExpressions": [["key": "spo-record", "operator": "In", "values": ["true"]]]],
        ]], { $0.webhooks?.last?.objectSelector?.matchExpressions?.first?.key == "spo-record" }),
    ]
    for (name, options, applied) in documented {
        let start = ContinuousClock.now
        _ = try await spods.patch("spod", namespace: namespace, patch: .merge(["spec": ["webhookOptions": options]]))
        _ = try await waitUntil { applied(try await configurations.get("spo-mutating-webhook-configuration")) }
        report("  \(name) patch → configuration", String(format: "%.1f ms", (ContinuousClock.now - start).milliseconds))
    }
    _ = try await spods.patch("spod", namespace: namespace, patch: .merge(["spec": ["webhookOptions": []]]))

    // Aggregation: profiles first, then every node reports Installed for every profile.
    let profileNamespaces = (0..<10).map { "bench-\($0)" }
    let created = try await withThrowingTaskGroup(of: SeccompProfile.self, returning: [SeccompProfile].self) { group in
        var result: [SeccompProfile] = []
        for batch in stride(from: 0, to: options.profiles, by: 16) {
            for index in batch..<min(batch + 16, options.profiles) {
                group.addTask {
                    try await client.resource(SeccompProfile.self).create(SeccompProfile(
                        metadata: ObjectMeta(name: "agg-\(index)", namespace: profileNamespaces[index % profileNamespaces.count]),
                        spec: .init(defaultAction: .log)))
                }
            }
            for try await profile in group { result.append(profile) }
        }
        return result
    }
    let reports = created.flatMap { profile in nodeNames.map { (profile, $0) } }
    let start = ContinuousClock.now
    let statusCPU = processStats(options.pid).cpuSeconds
    try await inParallel(reports, width: 32) { profile, node in
        _ = try await client.resource(SecurityProfileNodeStatus.self).create(ProfileIdentity.nodeStatus(for: profile, nodeName: node, state: .installed))
    }
    let reported = ContinuousClock.now - start
    _ = try await waitUntil {
        let profiles = try await client.resource(SeccompProfile.self).listAll()
        return profiles.items.filter { $0.metadata.name?.hasPrefix("agg-") == true && $0.status?.status == .installed }.count == options.profiles
    }
    let aggregated = ContinuousClock.now - start
    let loaded = processStats(options.pid)
    report("\(reports.count) node statuses created (client side)", String(format: "%.2f s", reported.milliseconds / 1000))
    report("all \(options.profiles) profiles Installed (\(options.nodes) nodes)", String(format: "%.2f s", aggregated.milliseconds / 1000))
    report("manager CPU seconds for the aggregation", String(format: "%.2f s", loaded.cpuSeconds - statusCPU))
    report("manager RSS at that load", String(format: "%.1f MiB", loaded.rssMiB))
}
