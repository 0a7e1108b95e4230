import KubeModels

/// One CustomResourceDefinition of the operator, with everything `kubectl` shows of it.
public struct CRDDefinition: Sendable {
    /// An `additionalPrinterColumns` entry.
    public struct PrinterColumn: Sendable {
        public var name: String
        public var type: String
        public var jsonPath: String
        public var priority: Int?

        public init(_ name: String, type: String = "string", jsonPath: String, priority: Int? = nil) {
            self.name = name
            self.type = type
            self.jsonPath = jsonPath
            self.priority = priority
        }
    }

    public var resource: GroupVersionResource
    public var singular: String
    public var shortNames: [String]
    public var statusSubresource: Bool
    public var printerColumns: [PrinterColumn]
    /// The whole object's schema (`openAPIV3Schema`).
    public var schema: Schema

    /// The file name under `deploy/crds/`.
    public var fileName: String { "\(resource.qualifiedResource).yaml" }

    /// The CRD object (`apiextensions.k8s.io/v1`).
    public var json: JSONValue {
        var version: [String: JSONValue] = [
            "name": .string(resource.version),
            "served": true,
            "storage": true,
            "schema": ["openAPIV3Schema": schema.json],
            "subresources": statusSubresource ? ["status": [:]] : [:],
        ]
        if !printerColumns.isEmpty {
            version["additionalPrinterColumns"] = .array(printerColumns.map { column in
                var entry: [String: JSONValue] = ["name": .string(column.name), "type": .string(column.type), "jsonPath": .string(column.jsonPath)]
                if let priority = column.priority { entry["priority"] = .int(Int64(priority)) }
                return .object(entry)
            })
        }
        var names: [String: JSONValue] = [
            "kind": .string(resource.kind), "listKind": .string(resource.kind + "List"),
            "plural": .string(resource.resource), "singular": .string(singular),
        ]
        if !shortNames.isEmpty { names["shortNames"] = .array(shortNames.map { .string($0) }) }
        return [
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": [
                "name": .string(resource.qualifiedResource),
                "labels": .object([SPOMetadata.appLabel: .string(SPOMetadata.appLabelValue)]),
            ],
            "spec": [
                "group": .string(resource.group),
                "names": .object(names),
                "scope": resource.namespaced ? "Namespaced" : "Cluster",
                "versions": [.object(version)],
            ],
        ]
    }
}

/// The CRDs of every kind, in the order they are installed.
public enum CRDs {
    public static let all: [CRDDefinition] = [
        seccompProfile, selinuxProfile, rawSelinuxProfile, appArmorProfile, profileRecording, profileBinding,
        securityProfilesOperatorDaemon, securityProfileNodeStatus,
    ]

    /// The envelope every kind shares around its spec and status.
    static func object(spec: Schema?, status: Schema?, extra: [String: Schema] = [:], required: [String] = [], _ description: String) -> Schema {
        var properties: [String: Schema] = [
            "apiVersion": .string("The versioned schema of this representation of an object."),
            "kind": .string("The REST resource this object represents."),
            "metadata": Schema(type: "object"),
        ]
        if let spec { properties["spec"] = spec }
        if let status { properties["status"] = status }
        properties.merge(extra) { $1 }
        return .object(properties, required: required, description)
    }

    static let disabled = Schema.boolean("Skip this profile on every node: nothing is installed.", default: false)
    static let conditions = Schema.array(KubernetesSchemas.condition, "Conditions; the operator sets Ready.")
    static let state = Schema.string("The profile's state aggregated over all nodes.")
    static let activeWorkloads = Schema.array(.string(), "Pods using the profile, as namespace/name.")

    public static let seccompProfile = CRDDefinition(
        resource: SeccompProfile.resource, singular: "seccompprofile", shortNames: ["sp"], statusSubresource: true,
        printerColumns: [
            .init("Status", jsonPath: ".status.status"),
            .init("Age", type: "date", jsonPath: ".metadata.creationTimestamp"),
            .init("LocalhostProfile", jsonPath: ".status.localhostProfile", priority: 10),
        ],
        schema: object(
            spec: .object([
                "disabled": disabled,
                "baseProfileName": .string("A SeccompProfile in the same namespace, or oci://<reference>, whose syscalls are added to this profile's."),
                "defaultAction": .enumeration(SeccompAction.self, "The action for syscalls no rule matches."),
                "architectures": .array(.enumeration(SeccompArchitecture.self)),
                "listenerPath": .string("The Unix socket of a seccomp agent, for SCMP_ACT_NOTIFY."),
                "listenerMetadata": .string("Opaque data passed to the seccomp agent."),
                "syscalls": .array(.object([
                    "names": .array(.string(), "Syscall names."),
                    "action": .enumeration(SeccompAction.self),
                    "errnoRet": .integer("The errno returned by SCMP_ACT_ERRNO.", format: "int64", minimum: 0),
                    "args": .array(.object([
                        "index": .integer("The argument's position (0 to 5).", format: "int64", minimum: 0),
                        "value": .integer(format: "int64", minimum: 0),
                        "valueTwo": .integer(format: "int64", minimum: 0),
                        "op": .enumeration(SeccompOperator.self),
                    ], required: ["index", "op"]), maxItems: 6),
                ], required: ["action", "names"]), "Rules, checked in order."),
                "flags": .array(.enumeration(SeccompFlag.self)),
            ], required: ["defaultAction"]),
            status: .object([
                "status": state, "conditions": conditions,
                "localhostProfile": .string("The value for securityContext.seccompProfile.localhostProfile."),
                "activeWorkloads": activeWorkloads,
                "path": .string(),
            ]),
            "A seccomp profile installed on every node as operator/<namespace>/<name>.json."))

    static let selinuxStatus = Schema.object([
        "status": state, "conditions": conditions,
        "usage": .string("The value for seLinuxOptions.type."),
        "activeWorkloads": activeWorkloads,
    ])

    public static let selinuxProfile = CRDDefinition(
        resource: SelinuxProfile.resource, singular: "selinuxprofile", shortNames: [], statusSubresource: true,
        printerColumns: [.init("Usage", jsonPath: ".status.usage"), .init("State", jsonPath: ".status.status")],
        schema: object(
            spec: .object([
                "disabled": disabled,
                "inherit": .array(
                    .object([
                        "kind": .enumeration(SelinuxPolicyKind.self, default: .system),
                        "name": .string(),
                    ], required: ["name"]),
                    "Policies this one inherits from.",
                    default: [["kind": "System", "name": "container"]]),
                "permissive": .boolean("Only log violations.", default: false),
                "allow": .map(.map(.array(.string())), "Allow rules: type label, then object class, then permissions. @self is this profile's type."),
            ]),
            status: selinuxStatus,
            "An SELinux policy given as allow rules, installed on every node."))

    public static let rawSelinuxProfile = CRDDefinition(
        resource: RawSelinuxProfile.resource, singular: "rawselinuxprofile", shortNames: [], statusSubresource: true,
        printerColumns: [.init("Usage", jsonPath: ".status.usage"), .init("State", jsonPath: ".status.status")],
        schema: object(
            spec: .object(["disabled": disabled, "policy": .string("The policy in CIL, without the outer block.")]),
            status: selinuxStatus,
            "An SELinux policy given in CIL, installed on every node."))

    /// Unlike the upstream v0.8 CRD, the status is declared, so it is not pruned and the
    /// profile can become ready.
    public static let appArmorProfile = CRDDefinition(
        resource: AppArmorProfile.resource, singular: "apparmorprofile", shortNames: ["aa"], statusSubresource: true,
        printerColumns: [],
        schema: object(
            spec: .object([
                "disabled": disabled,
                "policy": .string("The AppArmor policy text; the profile must be named like the object. Either this or abstract."),
                "abstract": .object([
                    "executable": .object([
                        "allowedExecutables": .array(.string(), "Programs the profile may run; they run under the same profile."),
                        "allowedLibraries": .array(.string(), "Libraries the profile may map."),
                    ]),
                    "filesystem": .object([
                        "readOnlyPaths": .array(.string()),
                        "writeOnlyPaths": .array(.string()),
                        "readWritePaths": .array(.string()),
                    ], "Absolute paths; AppArmor globs (*, **, ?, {a,b}) allowed."),
                    "network": .object([
                        "allowRaw": .boolean("Raw sockets."),
                        "allowedProtocols": .object(["allowTcp": .boolean(), "allowUdp": .boolean()]),
                    ]),
                    "capability": .object([
                        "allowedCapabilities": .array(.string(), "Capability names without CAP_, in lower case (net_bind_service)."),
                    ]),
                ], "Allow rules the operator turns into profile text; anything else is denied. Either this or policy."),
            ]),
            status: .object(["status": state, "conditions": conditions]),
            "An AppArmor profile loaded on every node."))

    public static let profileRecording = CRDDefinition(
        resource: ProfileRecording.resource, singular: "profilerecording", shortNames: [], statusSubresource: true,
        printerColumns: [.init("PodSelector", jsonPath: ".spec.podSelector", priority: 10)],
        schema: object(
            spec: .object([
                "kind": .enumeration(ProfileKind.self, "The kind of profile to record."),
                "recorder": .enumeration(ProfileRecorder.self, "How to record."),
                "mergeStrategy": .enumeration(MergeStrategy.self, "How to combine the profiles of replicas.", default: MergeStrategy.none),
                "podSelector": KubernetesSchemas.labelSelector,
                "containers": .array(.string(), "Record only these containers."),
                "disableProfileAfterRecording": .boolean("Create the recorded profiles disabled.", default: false),
            ], required: ["kind", "podSelector", "recorder"]),
            status: .object(["activeWorkloads": .array(.string()), "profiles": .array(.string(), "The profiles the recording produced (beyond upstream).")]),
            "Records profiles of the pods a selector matches."))

    public static let profileBinding = CRDDefinition(
        resource: ProfileBinding.resource, singular: "profilebinding", shortNames: [], statusSubresource: true,
        printerColumns: [],
        schema: object(
            spec: .object([
                "profileRef": .object([
                    "kind": .enumeration(BoundProfileKind.self, "SeccompProfile, SelinuxProfile, or (beyond upstream) AppArmorProfile."),
                    "name": .string(),
                ], required: ["kind", "name"]),
                "image": .string("The exact container image to bind, or * for every image."),
            ], required: ["image", "profileRef"]),
            status: .object(["activeWorkloads": .array(.string())]),
            "Applies a profile to every new container running an image."))

    public static let securityProfilesOperatorDaemon = CRDDefinition(
        resource: SecurityProfilesOperatorDaemon.resource, singular: "securityprofilesoperatordaemon", shortNames: ["spod"],
        statusSubresource: true,
        printerColumns: [.init("State", jsonPath: ".status.state")],
        schema: object(
            spec: .object([
                "verbosity": .integer("Log verbosity of the daemon: 0 or 1."),
                "enableProfiling": .boolean(),
                "enableMemoryOptimization": .boolean("Cache only pods labelled for recording."),
                "enableSelinux": .boolean("SELinux support; unset means on for OpenShift."),
                "selinuxTypeTag": .string("SELinux type of the daemon's containers.", default: SecurityProfilesOperatorDaemon.defaultSelinuxTypeTag),
                "enableLogEnricher": .boolean(),
                "enableBpfRecorder": .boolean(),
                "enableAppArmor": .boolean(),
                "tolerations": .array(KubernetesSchemas.toleration),
                "selinuxOptions": {
                    var options = Schema.object([
                        "allowedSystemProfiles": .array(.string(), "System policies a SelinuxProfile may inherit.", default: ["container"]),
                    ])
                    options.defaultValue = ["allowedSystemProfiles": ["container"]]
                    return options
                }(),
                "hostProcVolumePath": .string("Host path of /proc for the enricher and recorder."),
                "staticWebhookConfig": .boolean("The manager leaves the webhook objects alone."),
                "webhookOptions": .array(.object([
                    "name": .string("binding.spo.io or recording.spo.io."),
                    "failurePolicy": .enumeration(FailurePolicy.self),
                    "namespaceSelector": KubernetesSchemas.labelSelector,
                    "objectSelector": KubernetesSchemas.labelSelector,
                ], required: ["name"])),
                "allowedSyscalls": .array(.string(), "If set, profiles may only allow these syscalls."),
                "allowedSeccompActions": .array(.string(), "The actions the syscall allow-list applies to."),
                "affinity": KubernetesSchemas.affinity,
                "imagePullSecrets": .array(KubernetesSchemas.localObjectReference),
                "daemonResourceRequirements": KubernetesSchemas.resourceRequirements,
                "priorityClassName": .string(default: SecurityProfilesOperatorDaemon.defaultPriorityClassName),
                "disableOciArtifactSignatureVerification": .boolean(),
            ]),
            status: .object(["state": .string(), "conditions": conditions]),
            "The operator's configuration: what runs on every node."))

    public static let securityProfileNodeStatus = CRDDefinition(
        resource: SecurityProfileNodeStatus.resource, singular: "securityprofilenodestatus", shortNames: ["spns"],
        statusSubresource: false,
        printerColumns: [
            .init("Status", jsonPath: ".status"),
            .init("Age", type: "date", jsonPath: ".metadata.creationTimestamp"),
            .init("Node", jsonPath: ".nodeName", priority: 10),
        ],
        schema: object(
            spec: Schema(type: "object"),
            status: .string("The profile's state on this node."),
            extra: ["nodeName": .string("The node this status is about.")],
            required: ["nodeName"],
            "One node's state of one profile."))
}
