/// Schemas of the Kubernetes types the operator's API embeds, as the API server's own
/// OpenAPI describes them (the fields a CRD may carry).
public enum KubernetesSchemas {
    public static let labelSelectorRequirement = Schema.object([
        "key": .string("The label key that the selector applies to."),
        "operator": .string("One of In, NotIn, Exists and DoesNotExist."),
        "values": .array(.string(), "Values for In and NotIn; empty for Exists and DoesNotExist."),
    ], required: ["key", "operator"])

    public static let labelSelector = Schema.object([
        "matchLabels": .map(.string(), "Labels that must all match."),
        "matchExpressions": .array(labelSelectorRequirement, "Requirements that must all match."),
    ], "A label query over a set of resources.").atomic()

    public static let toleration = Schema.object([
        "key": .string(), "operator": .string(), "value": .string(), "effect": .string(),
        "tolerationSeconds": .integer(format: "int64"),
    ])

    public static let localObjectReference = Schema.object(["name": .string("Name of the referent.")]).atomic()

    public static let resourceRequirements = Schema.object([
        "limits": .map(.quantity(), "Maximum amount of compute resources allowed."),
        "requests": .map(.quantity(), "Minimum amount of compute resources required."),
        "claims": .array(.object(["name": .string(), "request": .string()], required: ["name"])),
    ])

    public static let condition = Schema.object([
        "type": .string("Type of the condition, e.g. Ready."),
        "status": .string("True, False or Unknown."),
        "observedGeneration": .integer(format: "int64", minimum: 0),
        "lastTransitionTime": .string("When the condition last changed.", format: "date-time"),
        "reason": .string("A CamelCase reason for the condition's last transition."),
        "message": .string("A human readable message about the transition."),
    ], required: ["type", "status", "lastTransitionTime", "reason"])

    static let nodeSelectorRequirement = Schema.object([
        "key": .string(), "operator": .string(), "values": .array(.string()),
    ], required: ["key", "operator"])

    static let nodeSelectorTerm = Schema.object([
        "matchExpressions": .array(nodeSelectorRequirement),
        "matchFields": .array(nodeSelectorRequirement),
    ]).atomic()

    static let podAffinityTerm = Schema.object([
        "labelSelector": labelSelector,
        "namespaceSelector": labelSelector,
        "namespaces": .array(.string()),
        "topologyKey": .string(),
        "matchLabelKeys": .array(.string()),
        "mismatchLabelKeys": .array(.string()),
    ], required: ["topologyKey"])

    static let weightedPodAffinityTerm = Schema.object([
        "weight": .integer(format: "int32"),
        "podAffinityTerm": podAffinityTerm,
    ], required: ["podAffinityTerm", "weight"])

    static let podAffinity = Schema.object([
        "requiredDuringSchedulingIgnoredDuringExecution": .array(podAffinityTerm),
        "preferredDuringSchedulingIgnoredDuringExecution": .array(weightedPodAffinityTerm),
    ])

    /// `core/v1.Affinity`.
    public static let affinity = Schema.object([
        "nodeAffinity": .object([
            "requiredDuringSchedulingIgnoredDuringExecution": Schema.object(
                ["nodeSelectorTerms": .array(nodeSelectorTerm)], required: ["nodeSelectorTerms"]).atomic(),
            "preferredDuringSchedulingIgnoredDuringExecution": .array(.object([
                "weight": .integer(format: "int32"),
                "preference": nodeSelectorTerm,
            ], required: ["preference", "weight"])),
        ]),
        "podAffinity": podAffinity,
        "podAntiAffinity": podAffinity,
    ], "Scheduling constraints copied to the daemon's pods.")
}
