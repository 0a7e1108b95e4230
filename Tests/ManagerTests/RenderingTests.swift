import Foundation
import KubeModels
import KubeTestServer
import SPOAPI
import SPOManager
import SPOManagerKit
import Testing
import Yams

/// The leaf paths where two JSON documents differ; arrays of different lengths count as one
/// change of the whole array.
func changedPaths(_ old: JSONValue?, _ new: JSONValue?, at path: String = "") -> [String] {
    switch (old ?? .null, new ?? .null) {
    case (.object(let before), .object(let after)):
        return Set(before.keys).union(after.keys).sorted().flatMap { changedPaths(before[$0], after[$0], at: "\(path).\($0)") }
    case (.array(let before), .array(let after)) where before.count == after.count:
        return before.indices.flatMap { changedPaths(before[$0], after[$0], at: "\(path)[\($0)]") }
    case (let before, let after):
        return before == after ? [] : [path]
    }
}

/// The seed's `oc patch spod spod --type merge -p ...` commands (examples/spod-patches) and the
/// DaemonSet fields each must change, no more and no fewer.
let seedPatches: [(file: String, changes: [String])] = [
    ("allowed-syscalls.json", []),
    ("daemon-resources.json", [
        ".template.spec.containers[0].resources.limits.cpu", ".template.spec.containers[0].resources.limits.ephemeral-storage",
        ".template.spec.containers[0].resources.limits.memory", ".template.spec.containers[0].resources.requests.cpu",
        ".template.spec.containers[0].resources.requests.ephemeral-storage", ".template.spec.containers[0].resources.requests.memory",
    ]),
    ("log-enricher.json", [".template.spec.containers", ".template.spec.hostPID", ".template.spec.volumes"]),
    ("memory-optimization.json", [".template.spec.containers[0].args"]),
    ("priority-class.json", [".template.spec.priorityClassName"]),
    ("recording-webhook-object-selector.json", []),
]

func examplePatch(_ file: String) throws -> JSONValue {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/spod-patches/\(file)")
    return try JSONValue.decode(Data(contentsOf: url))
}

let settings = DaemonSetSettings(image: "registry.example/spo:1.0")

func defaultSpod() -> SecurityProfilesOperatorDaemon {
    var spod = SecurityProfilesOperatorDaemon.defaultObject(namespace: "security-profiles-operator", staticWebhookConfig: false)
    spod.metadata.uid = "spod-uid"
    return spod
}

func patched(_ spod: SecurityProfilesOperatorDaemon, _ patch: JSONValue) throws -> SecurityProfilesOperatorDaemon {
    try JSONValue(encoding: spod).applyingMergePatch(patch).decode()
}

func container(_ daemonSet: DaemonSet, _ name: String) -> JSONValue? {
    daemonSet.spec?[path: ["template", "spec", "containers"]]?.arrayValue?.first { $0["name"]?.stringValue == name }
}

@Suite struct DaemonSetRenderingTests {
    @Test func theDefaultSpodRendersARestrictedDaemonOwnedByTheSpod() throws {
        let daemonSet = try DaemonSetRenderer.render(defaultSpod(), settings: settings)
        #expect(daemonSet.metadata.name == "spod" && daemonSet.metadata.namespace == "security-profiles-operator")
        #expect(daemonSet.metadata.ownerReferences == [OwnerReference(
            apiVersion: "security-profiles-operator.x-k8s.io/v1alpha1", kind: "SecurityProfilesOperatorDaemon", name: "spod",
            uid: "spod-uid", controller: true, blockOwnerDeletion: true)])
        let spec = try #require(daemonSet.spec)
        #expect(spec[path: ["selector", "matchLabels"]] == ["app": "security-profiles-operator", "name": "spod"])
        #expect(spec[path: ["updateStrategy", "rollingUpdate", "maxUnavailable"]] == "100%")
        let pod = try #require(spec[path: ["template", "spec"]])
        #expect(pod["serviceAccountName"] == "spod")
        #expect(pod["priorityClassName"] == "system-node-critical")
        #expect(pod["hostPID"] == .null)
        #expect(pod[path: ["securityContext", "seccompProfile", "type"]] == "RuntimeDefault")
        #expect(pod["tolerations"]?.arrayValue?.count == 3)
        #expect(pod["initContainers"]?.arrayValue?.map { $0["name"] } == ["non-root-enabler"])
        #expect(pod["containers"]?.arrayValue?.map { $0["name"] } == ["security-profiles-operator"], "no selinuxd, no metrics sidecar")

        let daemon = try #require(container(daemonSet, "security-profiles-operator"))
        #expect(daemon["image"] == "registry.example/spo:1.0")
        #expect(daemon["args"] == ["daemon", "--with-recording=false"])
        #expect(daemon[path: ["securityContext"]] == [
            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsUser": 65535, "runAsGroup": 65535,
            "capabilities": ["drop": ["ALL"]], "seLinuxOptions": ["type": "spc_t"],
        ])
        #expect(daemon[path: ["resources", "limits", "memory"]] == "128Mi")
        #expect(daemon[path: ["livenessProbe", "httpGet"]] == ["path": "/healthz", "port": "liveness-port"])
        #expect(daemon[path: ["readinessProbe", "httpGet", "path"]] == "/readyz")
        let env = daemon["env"]?.arrayValue ?? []
        #expect(env.contains(["name": "NODE_NAME", "valueFrom": ["fieldRef": ["fieldPath": "spec.nodeName"]]]))
        #expect(env.contains(["name": "SPOD_NAME", "value": "spod"]))
        #expect(env.contains(["name": "KUBELET_DIR", "value": "/var/lib/kubelet"]))
        #expect(env.contains(["name": "SPO_VERBOSITY", "value": "0"]))
        #expect(daemon["volumeMounts"]?.arrayValue?.first == ["name": "host-operator-volume", "mountPath": "/var/lib/kubelet/seccomp/operator"])
        // The daemon serves its metrics itself: the Service's target port, with the optional
        // certificate Secret mounted where METRICS_CERT_DIR points.
        #expect(daemon["ports"]?.arrayValue?.contains(["name": "https", "containerPort": 9443, "protocol": "TCP"]) == true)
        #expect(env.contains(["name": "METRICS_CERT_DIR", "value": "/etc/spo/metrics-tls"]))
        #expect(daemon["volumeMounts"]?.arrayValue?.contains(["name": "metrics-cert-volume", "mountPath": "/etc/spo/metrics-tls", "readOnly": true]) == true)
        #expect(pod["volumes"]?.arrayValue?.contains(["name": "metrics-cert-volume", "secret": ["secretName": "metrics-server-cert", "optional": true]]) == true)
    }

    @Test(arguments: seedPatches.map(\.file))
    func eachSeedPatchChangesExactlyItsFields(file: String) throws {
        let expected = try #require(seedPatches.first { $0.file == file }).changes
        let before = try DaemonSetRenderer.render(defaultSpod(), settings: settings)
        let after = try DaemonSetRenderer.render(try patched(defaultSpod(), try examplePatch(file)), settings: settings)
        #expect(changedPaths(before.spec, after.spec) == expected)
    }

    @Test func featuresAddTheirContainersArgumentsAndPrivileges() throws {
        var spod = defaultSpod()
        spod.spec?.enableLogEnricher = true
        spod.spec?.enableBpfRecorder = true
        spod.spec?.enableProfiling = true
        spod.spec?.verbosity = 1
        spod.spec?.hostProcVolumePath = "/host/proc"
        let daemonSet = try DaemonSetRenderer.render(spod, settings: settings)
        let pod = try #require(daemonSet.spec?[path: ["template", "spec"]])
        #expect(pod["containers"]?.arrayValue?.map { $0["name"] } == ["security-profiles-operator", "log-enricher", "bpf-recorder"])
        #expect(pod["hostPID"] == true)
        let daemon = try #require(container(daemonSet, "security-profiles-operator"))
        #expect(daemon["args"] == ["daemon", "--with-recording=true"])
        #expect(daemon["env"]?.arrayValue?.contains(["name": "ENABLE_BPF_RECORDER", "value": "true"]) == true)
        // The bpf-recorder container records (logs recordings too): the daemon stays unprivileged.
        #expect(daemon[path: ["securityContext", "runAsUser"]] == 65535)
        let recorder = try #require(container(daemonSet, "bpf-recorder"))
        #expect(recorder["args"] == ["bpf-recorder"])
        #expect(recorder[path: ["securityContext", "privileged"]] == true)
        #expect(recorder["env"]?.arrayValue?.contains(["name": "ENABLE_LOG_ENRICHER", "value": "true"]) == true)
        #expect(recorder["env"]?.arrayValue?.contains(["name": "SPO_PROFILING_PORT", "value": "6062"]) == true)
        let recorderMounts = recorder["volumeMounts"]?.arrayValue ?? []
        #expect(recorderMounts.contains(["name": "profile-recording-output-volume", "mountPath": "/tmp/security-profiles-operator-recordings"]))
        #expect(recorderMounts.contains(["name": "host-auditlog-volume", "mountPath": "/var/log/audit", "readOnly": true]))
        #expect(recorderMounts.contains(["name": "host-proc-volume", "mountPath": "/proc", "readOnly": true]))
        #expect(pod["volumes"]?.arrayValue?.contains([
            "name": "profile-recording-output-volume",
            "hostPath": ["path": "/tmp/security-profiles-operator-recordings", "type": "DirectoryOrCreate"]]) == true)
        let enricher = try #require(container(daemonSet, "log-enricher"))
        #expect(enricher["args"] == ["log-enricher"])
        #expect(enricher[path: ["securityContext", "privileged"]] == true)
        #expect(enricher["volumeMounts"]?.arrayValue?.contains(["name": "host-proc-volume", "mountPath": "/proc", "readOnly": true]) == true)
        #expect(enricher["env"]?.arrayValue?.contains(["name": "SPO_PROFILING_PORT", "value": "6061"]) == true)
        #expect(container(daemonSet, "security-profiles-operator")?["env"]?.arrayValue?.contains(["name": "SPO_VERBOSITY", "value": "1"]) == true)
        #expect(pod["volumes"]?.arrayValue?.contains(["name": "host-proc-volume", "hostPath": ["path": "/host/proc", "type": "Directory"]]) == true)
    }

    @Test func withOnlyTheLogEnricherTheDaemonRecords() throws {
        var spod = defaultSpod()
        spod.spec?.enableLogEnricher = true
        spod.spec?.enableMemoryOptimization = true
        let daemonSet = try DaemonSetRenderer.render(spod, settings: settings)
        #expect(daemonSet.spec?[path: ["template", "spec", "containers"]]?.arrayValue?.map { $0["name"] } == ["security-profiles-operator", "log-enricher"])
        let daemon = try #require(container(daemonSet, "security-profiles-operator"))
        #expect(daemon["args"] == ["daemon", "--with-recording=true", "--with-mem-optim=true"])
        #expect(daemon[path: ["securityContext", "privileged"]] == true)
        #expect(daemon[path: ["securityContext", "runAsUser"]] == 0)
        let mounts = daemon["volumeMounts"]?.arrayValue ?? []
        #expect(mounts.contains(["name": "profile-recording-output-volume", "mountPath": "/tmp/security-profiles-operator-recordings"]))
        #expect(mounts.contains(["name": "host-syslog-volume", "mountPath": "/var/log", "readOnly": true]))
    }

    @Test func appArmorMakesTheDaemonPrivilegedAndAnnotatesTheDaemonSet() throws {
        var spod = defaultSpod()
        spod.spec?.enableAppArmor = true
        spod.spec?.selinuxTypeTag = "custom_t"
        let daemonSet = try DaemonSetRenderer.render(spod, settings: settings)
        #expect(daemonSet.metadata.annotations == ["container.seccomp.security.alpha.kubernetes.io/security-profiles-operator": "unconfined"])
        let daemon = try #require(container(daemonSet, "security-profiles-operator"))
        #expect(daemon["args"] == ["daemon", "--with-recording=false", "--with-apparmor=true"])
        #expect(daemon["securityContext"] == ["privileged": true, "allowPrivilegeEscalation": true, "readOnlyRootFilesystem": false, "runAsUser": 0, "runAsGroup": 0])
        #expect(daemonSet.spec?[path: ["template", "spec", "hostPID"]] == true)
        let enabler = daemonSet.spec?[path: ["template", "spec", "initContainers"]]?.arrayValue?.first
        #expect(enabler?[path: ["securityContext", "seLinuxOptions"]] == nil, "with AppArmor the type tag is not applied")
    }

    @Test func selinuxMountsThePolicyStoreAndRunsTheDaemonAsRoot() throws {
        var spod = defaultSpod()
        spod.spec?.enableSelinux = true
        spod.spec?.selinuxTypeTag = "custom_t"
        let daemonSet = try DaemonSetRenderer.render(spod, settings: settings)
        let daemon = try #require(container(daemonSet, "security-profiles-operator"))
        #expect(daemon["args"] == ["daemon", "--with-selinux=true", "--with-recording=false"])
        #expect(daemon[path: ["securityContext", "runAsUser"]] == 0)
        #expect(daemon[path: ["securityContext", "seLinuxOptions", "type"]] == "custom_t")
        let mounts = daemon["volumeMounts"]?.arrayValue?.compactMap { $0["mountPath"]?.stringValue } ?? []
        #expect(mounts.contains("/etc/selinux") && mounts.contains("/var/lib/selinux") && mounts.contains("/sys/fs/selinux"))
        // Unset on a plain cluster, on for OpenShift.
        var unset = defaultSpod()
        unset.spec?.enableSelinux = nil
        let openShift = DaemonSetSettings(image: "i", isOpenShift: true)
        #expect(container(try DaemonSetRenderer.render(unset, settings: openShift), "security-profiles-operator")?["args"]?.arrayValue?.contains("--with-selinux=true") == true)
        #expect(container(try DaemonSetRenderer.render(unset, settings: settings), "security-profiles-operator")?["args"]?.arrayValue?.contains("--with-selinux=true") == false)
    }

    @Test func podPlacementFieldsAreCopiedAndClearedWhenUnset() throws {
        var spod = defaultSpod()
        spod.spec?.affinity = ["nodeAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": ["nodeSelectorTerms": [["matchExpressions": [["key": "spo", "operator": "Exists"]]]]]]]
        spod.spec?.imagePullSecrets = [LocalObjectReference(name: "pull")]
        spod.spec?.tolerations = []
        let pod = try #require(try DaemonSetRenderer.render(spod, settings: settings).spec?[path: ["template", "spec"]])
        #expect(pod["affinity"] == spod.spec?.affinity)
        #expect(pod["imagePullSecrets"] == [["name": "pull"]])
        #expect(pod["tolerations"] == .null, "an empty list means no tolerations; null removes old ones in a merge patch")
    }

    @Test func semanticSubsetIgnoresServerDefaultsButNotChangedFields() throws {
        let desired: JSONValue = ["containers": [["name": "c", "args": ["a"], "ports": [["containerPort": 1, "protocol": "TCP"]]]], "hostPID": .null]
        let defaulted: JSONValue = ["containers": [["name": "c", "args": ["a"], "terminationMessagePath": "/dev/termination-log", "ports": [["containerPort": 1, "protocol": "TCP"]]]], "dnsPolicy": "ClusterFirst"]
        #expect(desired.isSemanticSubset(of: defaulted))
        var edited = defaulted
        edited[path: ["hostPID"]] = true
        #expect(!desired.isSemanticSubset(of: edited))
        let extraContainer: JSONValue = ["containers": [["name": "c", "args": ["a"], "ports": [["containerPort": 1]]], ["name": "x"]]]
        #expect(!desired.isSemanticSubset(of: extraContainer))
    }
}

@Suite struct MonitoringManifestTests {
    /// Upstream's ServiceMonitor named a port its Service did not have; here every endpoint's
    /// port is a port name of both scraped Services and leads to a container port that serves
    /// the metrics.
    @Test func serviceMonitorPortsMatchTheScrapedServices() throws {
        let deploy = repositoryRoot.appendingPathComponent("deploy")
        let monitoring = try Yams.load_all(yaml: String(contentsOf: deploy.appendingPathComponent("monitoring.yaml"), encoding: .utf8))
            .compactMap { $0 as? [String: Any] }
        let monitor = try #require(monitoring.first { $0["kind"] as? String == "ServiceMonitor" })
        let endpoints = try #require((monitor["spec"] as? [String: Any])?["endpoints"] as? [[String: Any]])
        #expect(Set(endpoints.compactMap { $0["path"] as? String }) == ["/metrics", "/metrics-spod"])

        let spod = SecurityProfilesOperatorDaemon.defaultObject(namespace: "security-profiles-operator", staticWebhookConfig: false)
        let daemonService = try JSONValue(encoding: SpodReconciler.metricsService(for: spod))
        let manager = try Yams.load_all(yaml: String(contentsOf: deploy.appendingPathComponent("manager.yaml"), encoding: .utf8))
            .compactMap { $0 as? [String: Any] }
        let managerService = try #require(manager.first { $0["kind"] as? String == "Service" })
        let managerPorts = ((managerService["spec"] as? [String: Any])?["ports"] as? [[String: Any]]) ?? []
        let daemonPorts = daemonService[path: ["spec", "ports"]]?.arrayValue ?? []
        for endpoint in endpoints {
            let port = try #require(endpoint["port"] as? String)
            #expect(daemonPorts.contains { $0["name"]?.stringValue == port })
            // The enricher runs only in the daemons' pods; `https` is on both Services.
            #expect(managerPorts.contains { $0["name"] as? String == port } == (port == "https"))
        }
        #expect(Set(endpoints.compactMap { $0["port"] as? String }) == ["https", DaemonSetRenderer.enricherMetricsPortName])
        // The Services' target ports are where the processes listen.
        #expect(daemonPorts.first?["targetPort"] == .int(Int64(DaemonSetRenderer.metricsPort)))
        #expect(managerPorts.first?["targetPort"] as? Int == 8443)
        // The enricher's port is targeted by name: only pods whose enricher container declares it
        // (enableLogEnricher) become endpoints, and it is the port the enricher listens on.
        let enricherPort = try #require(daemonPorts.first { $0["name"]?.stringValue == DaemonSetRenderer.enricherMetricsPortName })
        #expect(enricherPort["targetPort"] == .string(DaemonSetRenderer.enricherMetricsPortName))
        let withEnricher = try DaemonSetRenderer.render(patched(defaultSpod(), ["spec": ["enableLogEnricher": true]]), settings: settings)
        let declared = container(withEnricher, "log-enricher")?["ports"]?.arrayValue ?? []
        #expect(declared.contains { $0["name"]?.stringValue == DaemonSetRenderer.enricherMetricsPortName && $0["containerPort"] == .int(9444) })
        let plain = try DaemonSetRenderer.render(defaultSpod(), settings: settings)
        let allPortNames = (plain.spec?[path: ["template", "spec", "containers"]]?.arrayValue ?? []).flatMap { $0["ports"]?.arrayValue ?? [] }.compactMap { $0["name"]?.stringValue }
        #expect(!allPortNames.contains(DaemonSetRenderer.enricherMetricsPortName))
        #expect((monitor["metadata"] as? [String: Any])?["name"] as? String == "security-profiles-operator-monitor")
    }
}
