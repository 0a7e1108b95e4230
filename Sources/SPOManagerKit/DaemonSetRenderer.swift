import KubeModels
import SPOAPI

/// What the manager knows about its environment when it renders the daemon's DaemonSet.
public struct DaemonSetSettings: Sendable, Hashable {
    /// The image of every container (`RELATED_IMAGE_OPERATOR` / `--daemon-image`).
    public var image: String
    public var imagePullPolicy: String
    /// The kubelet's root directory on the nodes (`KUBELET_DIR`).
    public var kubeletDirectory: String
    /// `RESTRICT_TO_NAMESPACE`, passed on to the daemon when set.
    public var restrictToNamespace: String?
    /// Whether the cluster is OpenShift, where an unset `enableSelinux` means on.
    public var isOpenShift: Bool

    public init(image: String, imagePullPolicy: String = "IfNotPresent", kubeletDirectory: String = "/var/lib/kubelet", restrictToNamespace: String? = nil, isOpenShift: Bool = false) {
        self.image = image
        self.imagePullPolicy = imagePullPolicy
        self.kubeletDirectory = kubeletDirectory
        self.restrictToNamespace = restrictToNamespace
        self.isOpenShift = isOpenShift
    }
}

/// Renders a spod into the per-node DaemonSet (reference §4.5-§4.6, with this project's
/// differences: SELinux modules are installed by the daemon itself, so there is no selinuxd
/// container; the daemon serves its own metrics, so there is no kube-rbac-proxy sidecar; the
/// daemon runs under the runtime's default seccomp profile). Pure: same input, same output.
public enum DaemonSetRenderer {
    public static let podLabels = ["app": SPOMetadata.appLabelValue, "name": "spod"]
    /// The DaemonSet annotation that lets the daemon manage AppArmor (upstream's key).
    public static let appArmorAnnotation = "container.seccomp.security.alpha.kubernetes.io/security-profiles-operator"
    /// Pod-spec fields the renderer may leave unset; they are rendered as `null` so that a
    /// merge patch removes a value an earlier spec set.
    static let clearableFields = ["hostPID", "affinity", "imagePullSecrets", "priorityClassName", "tolerations"]
    static let nonRootUser: Int64 = 65535

    /// The DaemonSet for `spod`, owned by it. Call only with a spod that passed validation.
    public static func render(_ spod: SecurityProfilesOperatorDaemon, settings: DaemonSetSettings) throws -> DaemonSet {
        let spec = spod.spec ?? .init()
        let name = spod.metadata.name ?? SecurityProfilesOperatorDaemon.defaultName
        var metadata = ObjectMeta(name: name, namespace: spod.metadata.namespace, labels: podLabels)
        metadata.ownerReferences = [OwnerReference(
            apiVersion: SecurityProfilesOperatorDaemon.apiVersion, kind: SecurityProfilesOperatorDaemon.kind, name: name,
            uid: spod.metadata.uid ?? "", controller: true, blockOwnerDeletion: true)]
        if spec.enableAppArmor == true { metadata.annotations = [appArmorAnnotation: "unconfined"] }

        var podSpec = try JSONValue(encoding: podSpec(spec, spodName: name, settings: settings))
        if case .object(var fields) = podSpec {
            for field in clearableFields where fields[field] == nil { fields[field] = .null }
            podSpec = .object(fields)
        }
        let labels = try JSONValue(encoding: podLabels)
        let daemonSetSpec: JSONValue = [
            "selector": ["matchLabels": labels],
            "updateStrategy": ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": "100%"]],
            "template": [
                "metadata": ["labels": labels, "annotations": ["openshift.io/scc": "privileged"]],
                "spec": podSpec,
            ],
        ]
        return DaemonSet(metadata: metadata, spec: daemonSetSpec)
    }

    /// The features a spod turns on, with the defaults applied.
    struct Features {
        var selinux: Bool
        var appArmor: Bool
        var logEnricher: Bool
        var bpfRecorder: Bool
        var recording: Bool { logEnricher || bpfRecorder }

        init(_ spec: SecurityProfilesOperatorDaemon.Spec, settings: DaemonSetSettings) {
            selinux = spec.enableSelinux ?? settings.isOpenShift
            appArmor = spec.enableAppArmor == true
            logEnricher = spec.enableLogEnricher == true
            bpfRecorder = spec.enableBpfRecorder == true
        }
    }

    static func podSpec(_ spec: SecurityProfilesOperatorDaemon.Spec, spodName: String, settings: DaemonSetSettings) -> PodSpec {
        let features = Features(spec, settings: settings)
        let operatorDirectory = settings.kubeletDirectory + "/seccomp/operator"
        let typeTag = features.appArmor ? nil : SecurityContext.SELinuxOptions(type: spec.selinuxTypeTag ?? "spc_t")
        let verbosity = EnvVar.literal("SPO_VERBOSITY", String(spec.verbosity ?? 0))
        var volumes: [Volume] = [
            .host("host-operator-volume", operatorDirectory, type: "DirectoryOrCreate"),
            .empty("tmp-volume"),
        ]

        // Gives the non-root daemon its directory on the host (kubelet created it as root).
        let enabler = Container(
            name: "non-root-enabler", image: settings.image, imagePullPolicy: settings.imagePullPolicy,
            args: ["non-root-enabler", "--kubelet-dir=\(settings.kubeletDirectory)", "--owner=\(nonRootUser)"],
            env: [.field("NODE_NAME", "spec.nodeName"), .literal("KUBELET_DIR", settings.kubeletDirectory), verbosity],
            volumeMounts: [VolumeMount(name: "host-operator-volume", mountPath: operatorDirectory)],
            resources: resources(requests: ("32Mi", "100m", "10Mi"), limits: ("64Mi", "50Mi")),
            securityContext: SecurityContext(
                allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsUser: 0,
                capabilities: .init(add: ["CHOWN", "FOWNER", "DAC_OVERRIDE"], drop: ["ALL"]), seLinuxOptions: typeTag))

        var daemonArgs = ["daemon"]
        if features.selinux { daemonArgs.append("--with-selinux=true") }
        daemonArgs.append("--with-recording=\(features.recording)")
        if features.appArmor { daemonArgs.append("--with-apparmor=true") }
        if spec.enableMemoryOptimization == true { daemonArgs.append("--with-mem-optim=true") }
        var daemonEnv: [EnvVar] = [
            .field("NODE_NAME", "spec.nodeName"), .field("OPERATOR_NAMESPACE", "metadata.namespace"),
            .literal("SPOD_NAME", spodName), .literal("KUBELET_DIR", settings.kubeletDirectory), .literal("HOME", "/home"),
            // The metrics endpoints' certificate, once cert-manager or the service CA made one.
            .literal("METRICS_CERT_DIR", Self.metricsCertificateDirectory),
        ]
        if let namespace = settings.restrictToNamespace { daemonEnv.append(.literal("RESTRICT_TO_NAMESPACE", namespace)) }
        if features.logEnricher { daemonEnv.append(.literal("ENABLE_LOG_ENRICHER", "true")) }
        if features.bpfRecorder { daemonEnv.append(.literal("ENABLE_BPF_RECORDER", "true")) }
        daemonEnv.append(verbosity)
        var daemonMounts = [
            VolumeMount(name: "host-operator-volume", mountPath: operatorDirectory),
            VolumeMount(name: "tmp-volume", mountPath: "/tmp"),
            VolumeMount(name: "home-volume", mountPath: "/home"),
            VolumeMount(name: "metrics-cert-volume", mountPath: Self.metricsCertificateDirectory, readOnly: true),
        ]
        volumes.append(.empty("home-volume"))
        volumes.append(.secret("metrics-cert-volume", secretName: Self.metricsCertificateSecret, optional: true))
        var daemonSecurity = SecurityContext(
            allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsUser: nonRootUser, runAsGroup: nonRootUser,
            capabilities: .init(drop: ["ALL"]), seLinuxOptions: typeTag)
        if features.selinux {
            // Modules are installed in-process through libsemanage: the policy store and
            // selinuxfs of the host, as root with only the file capabilities it needs.
            for (volume, path) in [("host-etcselinux-volume", "/etc/selinux"), ("host-varlibselinux-volume", "/var/lib/selinux"), ("host-fsselinux-volume", "/sys/fs/selinux")] {
                volumes.append(.host(volume, path, type: "Directory"))
                daemonMounts.append(VolumeMount(name: volume, mountPath: path))
            }
            daemonSecurity.runAsUser = 0
            daemonSecurity.runAsGroup = 0
            daemonSecurity.capabilities = .init(add: ["CHOWN", "FOWNER", "DAC_OVERRIDE"], drop: ["ALL"])
        }
        let hostProc = spec.hostProcVolumePath.flatMap { $0.isEmpty || $0 == "/proc" ? nil : $0 }
        if let hostProc, features.recording { volumes.append(.host("host-proc-volume", hostProc, type: "Directory")) }
        let procMount = hostProc != nil ? [VolumeMount(name: "host-proc-volume", mountPath: "/proc", readOnly: true)] : []
        if features.logEnricher {
            volumes.append(.host("host-auditlog-volume", "/var/log/audit", type: "DirectoryOrCreate"))
            volumes.append(.host("host-syslog-volume", "/var/log", type: "DirectoryOrCreate"))
        }
        // The recorder reads the node's audit records (logs) or loads its eBPF program (bpf),
        // reads every process's /proc entry and keeps what it recorded across restarts in the
        // host's recording directory. It runs in the `bpf-recorder` container when there is
        // one (enableBpfRecorder; it then records logs recordings too), else in the daemon.
        var recorderMounts: [VolumeMount] = []
        if features.recording {
            volumes.append(.host("profile-recording-output-volume", Self.recordingDirectory, type: "DirectoryOrCreate"))
            recorderMounts.append(VolumeMount(name: "profile-recording-output-volume", mountPath: Self.recordingDirectory))
            if features.logEnricher {
                recorderMounts.append(VolumeMount(name: "host-auditlog-volume", mountPath: "/var/log/audit", readOnly: true))
                recorderMounts.append(VolumeMount(name: "host-syslog-volume", mountPath: "/var/log", readOnly: true))
            }
            recorderMounts += procMount
        }
        if features.recording, !features.bpfRecorder {
            daemonSecurity = SecurityContext(privileged: true, allowPrivilegeEscalation: true, readOnlyRootFilesystem: true, runAsUser: 0, runAsGroup: 0, seLinuxOptions: typeTag)
            daemonMounts += recorderMounts
        }
        if features.appArmor {
            daemonSecurity = SecurityContext(privileged: true, allowPrivilegeEscalation: true, readOnlyRootFilesystem: false, runAsUser: 0, runAsGroup: 0)
        }
        let healthProbe = { (failures: Int, period: Int, path: String) in
            Probe(httpGet: .init(path: path, port: "liveness-port"), failureThreshold: failures, periodSeconds: period, timeoutSeconds: 1)
        }
        var containers = [Container(
            name: "security-profiles-operator", image: settings.image, imagePullPolicy: settings.imagePullPolicy,
            args: daemonArgs, env: daemonEnv,
            ports: [ContainerPort(name: "liveness-port", containerPort: 8085), ContainerPort(name: "https", containerPort: Self.metricsPort)],
            volumeMounts: daemonMounts,
            resources: spec.daemonResourceRequirements ?? resources(requests: ("64Mi", "100m", "50Mi"), limits: ("128Mi", "200Mi")),
            securityContext: daemonSecurity,
            startupProbe: healthProbe(10, 3, "/healthz"), livenessProbe: healthProbe(1, 10, "/healthz"),
            readinessProbe: healthProbe(3, 5, "/readyz"))]

        let privileged = SecurityContext(privileged: true, readOnlyRootFilesystem: true, runAsUser: 0, seLinuxOptions: typeTag)
        let sidecarEnv = [EnvVar.field("NODE_NAME", "spec.nodeName"), .literal("KUBELET_DIR", settings.kubeletDirectory), verbosity]
        if features.logEnricher {
            // Its own health and metrics ports (the pod shares one network namespace); the
            // `metrics` Service reaches its /metrics-spod through the named port.
            let enricherEnv = sidecarEnv + [
                .field("OPERATOR_NAMESPACE", "metadata.namespace"), .literal("METRICS_CERT_DIR", Self.metricsCertificateDirectory),
            ]
            containers.append(Container(
                name: "log-enricher", image: settings.image, imagePullPolicy: settings.imagePullPolicy, args: ["log-enricher"], env: enricherEnv,
                ports: [
                    ContainerPort(name: "enricher-health", containerPort: Self.enricherHealthPort),
                    ContainerPort(name: Self.enricherMetricsPortName, containerPort: Self.enricherMetricsPort),
                ],
                volumeMounts: [
                    VolumeMount(name: "host-auditlog-volume", mountPath: "/var/log/audit", readOnly: true),
                    VolumeMount(name: "host-syslog-volume", mountPath: "/var/log", readOnly: true),
                    VolumeMount(name: "metrics-cert-volume", mountPath: Self.metricsCertificateDirectory, readOnly: true),
                ] + procMount,
                resources: resources(requests: ("64Mi", "50m", "10Mi"), limits: ("256Mi", "128Mi")), securityContext: privileged,
                livenessProbe: Probe(httpGet: .init(path: "/healthz", port: "enricher-health"), failureThreshold: 3, periodSeconds: 10, timeoutSeconds: 1)))
        }
        if features.bpfRecorder {
            var recorderEnv = sidecarEnv + [.field("OPERATOR_NAMESPACE", "metadata.namespace")]
            if features.logEnricher { recorderEnv.append(.literal("ENABLE_LOG_ENRICHER", "true")) }
            containers.append(Container(
                name: "bpf-recorder", image: settings.image, imagePullPolicy: settings.imagePullPolicy,
                args: spec.enableMemoryOptimization == true ? ["bpf-recorder", "--with-mem-optim=true"] : ["bpf-recorder"], env: recorderEnv,
                ports: [ContainerPort(name: "recorder-health", containerPort: Self.bpfRecorderHealthPort)],
                volumeMounts: [VolumeMount(name: "tmp-volume", mountPath: "/tmp")] + recorderMounts,
                resources: resources(requests: ("64Mi", "50m", "10Mi"), limits: ("128Mi", "20Mi")), securityContext: privileged,
                livenessProbe: Probe(httpGet: .init(path: "/healthz", port: "recorder-health"), failureThreshold: 3, periodSeconds: 10, timeoutSeconds: 1)))
        }
        if spec.enableProfiling == true {
            for index in containers.indices {
                containers[index].env?.append(contentsOf: [.literal("SPO_PROFILING", "true"), .literal("SPO_PROFILING_PORT", String(6060 + index))])
            }
        }

        return PodSpec(
            serviceAccountName: "spod",
            hostPID: features.recording || features.appArmor ? true : nil,
            securityContext: PodSecurityContext(seccompProfile: .init(type: "RuntimeDefault")),
            nodeSelector: ["kubernetes.io/os": "linux"],
            priorityClassName: spec.priorityClassName.flatMap { $0.isEmpty ? nil : $0 },
            tolerations: spec.tolerations.flatMap { $0.isEmpty ? nil : $0 },
            affinity: spec.affinity,
            imagePullSecrets: spec.imagePullSecrets.flatMap { $0.isEmpty ? nil : $0 },
            initContainers: [enabler],
            containers: containers,
            volumes: volumes)
    }

    /// Where the recorder keeps what it recorded across restarts (upstream's recording hostPath).
    public static let recordingDirectory = "/tmp/security-profiles-operator-recordings"

    /// The `bpf-recorder` container's health port (the pod shares one network namespace).
    public static let bpfRecorderHealthPort = 8087
    /// The daemon's HTTPS metrics port, the `metrics` Service's target.
    public static let metricsPort = 9443
    /// The log enricher's HTTPS metrics port and its name, which the `metrics` Service targets.
    public static let enricherMetricsPort = 9444
    public static let enricherMetricsPortName = "https-enricher"
    /// The log enricher's /healthz and /readyz.
    public static let enricherHealthPort = 8086
    /// The Secret with the metrics endpoints' `tls.crt`/`tls.key` (upstream's name), and where it is mounted.
    public static let metricsCertificateSecret = "metrics-server-cert"
    public static let metricsCertificateDirectory = "/etc/spo/metrics-tls"

    static func resources(requests: (memory: String, cpu: String, storage: String), limits: (memory: String, storage: String)) -> ResourceRequirements {
        ResourceRequirements(
            limits: ["memory": Quantity(limits.memory), "ephemeral-storage": Quantity(limits.storage)],
            requests: ["memory": Quantity(requests.memory), "cpu": Quantity(requests.cpu), "ephemeral-storage": Quantity(requests.storage)])
    }
}
