import KubeModels

extension SeccompProfile: Validatable {
    /// At most six argument filters per rule (seccomp's limit).
    public static let maximumArgs = 6

    public func validate(_ context: ValidationContext) -> [ValidationProblem] {
        ProblemList.validate(metadata, spec: spec) { problems, spec, field in
            problems.check(spec.defaultAction, at: field.child("defaultAction"), required: true)
            problems.check(spec.architectures, at: field.child("architectures"))
            problems.check(spec.flags, at: field.child("flags"))
            if let base = spec.baseProfileName, base.isEmpty {
                problems.add(field.child("baseProfileName"), .invalid, value: base, "must not be empty when set")
            }
            for (index, rule) in (spec.syscalls ?? []).enumerated() {
                let ruleField = field.child("syscalls").index(index)
                problems.check(rule.action, at: ruleField.child("action"), required: true)
                let namesField = ruleField.child("names")
                if let names = problems.require(rule.names, at: namesField) {
                    if names.isEmpty { problems.add(namesField, .required, "at least one syscall name is required") }
                    for (nameIndex, name) in names.enumerated() {
                        if name.isEmpty {
                            problems.add(namesField.index(nameIndex), .required)
                        } else if let known = context.syscallNames, !known.isKnown(name) {
                            problems.add(namesField.index(nameIndex), .unsupported, value: name, "unknown syscall")
                        }
                    }
                }
                let args = rule.args ?? []
                if args.count > Self.maximumArgs {
                    problems.add(ruleField.child("args"), .tooMany, value: String(args.count), "must have at most \(Self.maximumArgs) items")
                }
                if let errno = rule.errnoRet, errno < 0 {
                    problems.add(ruleField.child("errnoRet"), .invalid, value: String(errno), "must be greater than or equal to 0")
                }
                for (argIndex, arg) in args.enumerated() {
                    let argField = ruleField.child("args").index(argIndex)
                    if let index = problems.require(arg.index, at: argField.child("index")), !(0..<Int64(Self.maximumArgs)).contains(index) {
                        problems.add(argField.child("index"), .invalid, value: String(index), "must be between 0 and \(Self.maximumArgs - 1)")
                    }
                    for (name, value) in [("value", arg.value), ("valueTwo", arg.valueTwo)] {
                        if let value, value < 0 {
                            problems.add(argField.child(name), .invalid, value: String(value), "must be greater than or equal to 0")
                        }
                    }
                    problems.check(arg.op, at: argField.child("op"), required: true)
                }
            }
        }
    }
}

extension SelinuxProfile: Validatable {
    public func validate(_ context: ValidationContext) -> [ValidationProblem] {
        ProblemList.validate(metadata, spec: spec) { problems, spec, field in
            for (index, reference) in (spec.inherit ?? []).enumerated() {
                let referenceField = field.child("inherit").index(index)
                problems.check(reference.kind, at: referenceField.child("kind"))
                problems.requireNonEmpty(reference.name, at: referenceField.child("name"))
            }
            for (label, classes) in (spec.allow ?? [:]).sorted(by: { $0.key < $1.key }) {
                let labelField = field.child("allow").key(label)
                if label.isEmpty { problems.add(labelField, .invalid, value: label, "type labels must not be empty") }
                for (objectClass, permissions) in classes.sorted(by: { $0.key < $1.key }) where permissions.isEmpty {
                    problems.add(labelField.key(objectClass), .required, "at least one permission is required")
                }
            }
        }
    }
}

extension RawSelinuxProfile: Validatable {
    public func validate(_ context: ValidationContext) -> [ValidationProblem] {
        ProblemList.validate(metadata, spec: spec) { problems, spec, field in
            problems.requireNonEmpty(spec.policy, at: field.child("policy"))
        }
    }
}

extension AppArmorProfile: Validatable {
    /// Linux capabilities by their AppArmor names.
    public static let capabilityNames: Set<String> = [
        "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
        "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
        "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
        "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
        "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
        "checkpoint_restore",
    ]

    /// Longest path an abstract rule may name (PATH_MAX).
    static let maximumPathLength = 4096

    public func validate(_ context: ValidationContext) -> [ValidationProblem] {
        ProblemList.validate(metadata, spec: spec) { problems, spec, field in
            switch (spec.policy, spec.abstract) {
            case (nil, nil):
                problems.add(field.child("policy"), .required, "set policy or abstract")
            case (let policy?, nil):
                problems.requireNonEmpty(policy, at: field.child("policy"))
            case (_?, _?):
                problems.add(field.child("abstract"), .invalid, "policy and abstract are exclusive")
            case (nil, let abstract?):
                Self.check(abstract, at: field.child("abstract"), into: &problems)
            }
        }
    }

    private static func check(_ abstract: Abstract, at field: FieldPath, into problems: inout ProblemList) {
        func paths(_ values: [String]?, at field: FieldPath) {
            for (index, path) in (values ?? []).enumerated() {
                if let reason = pathProblem(path) { problems.add(field.index(index), .invalid, value: path, reason) }
            }
        }
        let executable = field.child("executable"), filesystem = field.child("filesystem")
        paths(abstract.executable?.allowedExecutables, at: executable.child("allowedExecutables"))
        paths(abstract.executable?.allowedLibraries, at: executable.child("allowedLibraries"))
        paths(abstract.filesystem?.readOnlyPaths, at: filesystem.child("readOnlyPaths"))
        paths(abstract.filesystem?.writeOnlyPaths, at: filesystem.child("writeOnlyPaths"))
        paths(abstract.filesystem?.readWritePaths, at: filesystem.child("readWritePaths"))
        let capabilities = field.child("capability").child("allowedCapabilities")
        for (index, name) in (abstract.capability?.allowedCapabilities ?? []).enumerated() where !capabilityNames.contains(name) {
            problems.add(capabilities.index(index), .unsupported, value: name, "not a Linux capability (lower case, without CAP_)")
        }
    }

    /// Why a path cannot go into a profile: it is quoted there, so quotes, backslashes and
    /// control characters (a newline would start a new rule) are refused.
    static func pathProblem(_ path: String) -> String? {
        guard path.hasPrefix("/") || path.hasPrefix("@{") else { return "must be absolute (or start with an AppArmor variable)" }
        guard path.utf8.count <= maximumPathLength else { return "longer than \(maximumPathLength) bytes" }
        if path.unicodeScalars.contains(where: { $0 == "\"" || $0 == "\\" || $0.value < 0x20 || $0.value == 0x7f }) {
            return "must not contain quotes, backslashes or control characters"
        }
        return nil
    }
}

extension ProfileRecording: Validatable {
    public func validate(_ context: ValidationContext) -> [ValidationProblem] {
        ProblemList.validate(metadata, spec: spec) { problems, spec, field in
            problems.check(spec.kind, at: field.child("kind"), required: true)
            problems.check(spec.recorder, at: field.child("recorder"), required: true)
            problems.check(spec.mergeStrategy, at: field.child("mergeStrategy"))
            _ = problems.require(spec.podSelector, at: field.child("podSelector"))
            if spec.kind == .selinuxProfile, spec.recorder == .bpf {
                problems.add(field.child("recorder"), .unsupported, value: "bpf", "SelinuxProfile recordings need the logs recorder")
            }
            problems.checkSelector(spec.podSelector, at: field.child("podSelector"))
        }
    }
}

extension ProfileBinding: Validatable {
    public func validate(_ context: ValidationContext) -> [ValidationProblem] {
        ProblemList.validate(metadata, spec: spec) { problems, spec, field in
            let referenceField = field.child("profileRef")
            if let reference = problems.require(spec.profileRef, at: referenceField) {
                problems.check(reference.kind, at: referenceField.child("kind"), required: true)
                problems.requireNonEmpty(reference.name, at: referenceField.child("name"))
            }
            problems.requireNonEmpty(spec.image, at: field.child("image"))
        }
    }
}

extension SecurityProfilesOperatorDaemon: Validatable {
    /// Names of the built-in webhooks that `webhookOptions` can tune.
    public static let webhookNames = ["binding.spo.io", "recording.spo.io"]

    public func validate(_ context: ValidationContext) -> [ValidationProblem] {
        ProblemList.validate(metadata, spec: spec, required: false) { problems, spec, field in
            if let verbosity = spec.verbosity, !(0...1).contains(verbosity) {
                problems.add(field.child("verbosity"), .unsupported, value: String(verbosity), "supported values: 0, 1")
            }
            for (index, option) in (spec.webhookOptions ?? []).enumerated() {
                let optionField = field.child("webhookOptions").index(index)
                problems.requireNonEmpty(option.name, at: optionField.child("name"))
                problems.check(option.failurePolicy, at: optionField.child("failurePolicy"))
                problems.checkSelector(option.namespaceSelector, at: optionField.child("namespaceSelector"))
                problems.checkSelector(option.objectSelector, at: optionField.child("objectSelector"))
            }
            for (index, name) in (spec.allowedSyscalls ?? []).enumerated() {
                if name.isEmpty {
                    problems.add(field.child("allowedSyscalls").index(index), .required)
                } else if let known = context.syscallNames, !known.isKnown(name) {
                    problems.add(field.child("allowedSyscalls").index(index), .unsupported, value: name, "unknown syscall")
                }
            }
            for (index, secret) in (spec.imagePullSecrets ?? []).enumerated() {
                problems.requireNonEmpty(secret.name, at: field.child("imagePullSecrets").index(index).child("name"))
            }
            if let priorityClass = spec.priorityClassName, !priorityClass.isEmpty, !KubeNames.isSubdomain(priorityClass) {
                problems.add(field.child("priorityClassName"), .invalid, value: priorityClass, KubeNames.subdomainMessage)
            }
            problems.checkTolerations(spec.tolerations, at: field.child("tolerations"))
            problems.checkResources(spec.daemonResourceRequirements, at: field.child("daemonResourceRequirements"))
            if let path = spec.hostProcVolumePath, !path.isEmpty, !path.hasPrefix("/") || path.split(separator: "/").contains("..") {
                problems.add(field.child("hostProcVolumePath"), .invalid, value: path, "must be an absolute path without '..'")
            }
            if let tag = spec.selinuxTypeTag, !tag.isEmpty, !tag.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
                problems.add(field.child("selinuxTypeTag"), .invalid, value: tag, "an SELinux type: letters, digits and '_'")
            }
        }
    }
}

extension SecurityProfileNodeStatus: Validatable {
    public func validate(_ context: ValidationContext) -> [ValidationProblem] {
        var problems = ProblemList()
        problems.checkMetadata(metadata)
        problems.requireNonEmpty(nodeName, at: "nodeName")
        problems.check(status, at: "status")
        return problems.problems
    }
}

extension ProblemList {
    /// Label selector operators and their value rules.
    mutating func checkSelector(_ selector: LabelSelector?, at field: FieldPath) {
        for (index, requirement) in (selector?.matchExpressions ?? []).enumerated() {
            let requirementField = field.child("matchExpressions").index(index)
            requireNonEmpty(requirement.key, at: requirementField.child("key"))
            let values = requirement.values ?? []
            switch requirement.operator {
            case "In", "NotIn":
                if values.isEmpty { add(requirementField.child("values"), .required, "must be specified when `operator` is 'In' or 'NotIn'") }
            case "Exists", "DoesNotExist":
                if !values.isEmpty { add(requirementField.child("values"), .invalid, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'") }
            default:
                add(requirementField.child("operator"), .unsupported, value: requirement.operator,
                    "supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\"")
            }
        }
    }
}

extension ProblemList {
    /// Kubernetes' toleration rules: `Exists` takes no value, an empty key needs `Exists`,
    /// effects and operators from the core/v1 sets, `tolerationSeconds` only with `NoExecute`.
    mutating func checkTolerations(_ tolerations: [Toleration]?, at field: FieldPath) {
        for (index, toleration) in (tolerations ?? []).enumerated() {
            let item = field.index(index)
            let operation = toleration.operator ?? "Equal"
            switch operation {
            case "Equal":
                if (toleration.key ?? "").isEmpty {
                    add(item.child("operator"), .invalid, value: operation, "operator must be Exists when `key` is empty, which means \"match all values and all keys\"")
                }
            case "Exists":
                if let value = toleration.value, !value.isEmpty {
                    add(item.child("value"), .invalid, value: value, "value must be empty when `operator` is 'Exists'")
                }
            default:
                add(item.child("operator"), .unsupported, value: operation, "supported values: \"Equal\", \"Exists\"")
            }
            if let key = toleration.key, !key.isEmpty, !KubeNames.isQualifiedName(key) {
                add(item.child("key"), .invalid, value: key, KubeNames.qualifiedNameMessage)
            }
            if let effect = toleration.effect, !effect.isEmpty, !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(effect) {
                add(item.child("effect"), .unsupported, value: effect, "supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"")
            }
            if toleration.tolerationSeconds != nil, toleration.effect != "NoExecute" {
                add(item.child("effect"), .invalid, value: toleration.effect ?? "", "effect must be 'NoExecute' when `tolerationSeconds` is set")
            }
        }
    }

    /// Quantities that parse, are not negative, and requests within limits.
    mutating func checkResources(_ resources: ResourceRequirements?, at field: FieldPath) {
        guard let resources else { return }
        var values: [String: [String: Double]] = [:]
        for (part, entries) in [("limits", resources.limits), ("requests", resources.requests)] {
            for (name, quantity) in (entries ?? [:]).sorted(by: { $0.key < $1.key }) {
                let entryField = field.child(part).key(name)
                guard let value = quantity.numericValue else {
                    add(entryField, .invalid, value: quantity.value, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
                    continue
                }
                if value < 0 { add(entryField, .invalid, value: quantity.value, "must be greater than or equal to 0") }
                values[part, default: [:]][name] = value
            }
        }
        for (name, request) in (values["requests"] ?? [:]).sorted(by: { $0.key < $1.key }) {
            if let limit = values["limits"]?[name], request > limit {
                add(field.child("requests").key(name), .invalid, value: resources.requests?[name]?.value,
                    "must be less than or equal to \(name) limit of \(resources.limits?[name]?.value ?? "")")
            }
        }
    }
}

extension Quantity {
    /// The amount in base units (bytes, cores), or `nil` when the text is not a Kubernetes
    /// quantity (`128Mi`, `250m`, `1.5`, `2e3`, `-1`).
    public var numericValue: Double? {
        let suffixes: [(String, Double)] = [
            ("Ki", 0x1p10), ("Mi", 0x1p20), ("Gi", 0x1p30), ("Ti", 0x1p40), ("Pi", 0x1p50), ("Ei", 0x1p60),
            ("n", 1e-9), ("u", 1e-6), ("m", 1e-3), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15), ("E", 1e18),
        ]
        var number = Substring(value)
        var scale = 1.0
        if let (suffix, factor) = suffixes.first(where: { value.hasSuffix($0.0) }) {
            number = number.dropLast(suffix.count)
            scale = factor
        } else if let exponent = number.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            guard let power = Int(number[number.index(after: exponent)...]) else { return nil }
            scale = pow10(power)
            number = number[..<exponent]
        }
        let digits = number.drop { $0 == "+" || $0 == "-" }
        guard number.count - digits.count <= 1, !digits.isEmpty,
              digits.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              digits.filter({ $0 == "." }).count <= 1, digits != ".",
              let magnitude = Double(digits) else { return nil }
        return (number.first == "-" ? -magnitude : magnitude) * scale
    }

    private func pow10(_ power: Int) -> Double {
        var result = 1.0
        for _ in 0..<abs(power) { result *= 10 }
        return power < 0 ? 1 / result : result
    }
}
