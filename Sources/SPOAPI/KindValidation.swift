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
    public func validate(_ context: ValidationContext) -> [ValidationProblem] {
        ProblemList.validate(metadata, spec: spec) { problems, spec, field in
            problems.requireNonEmpty(spec.policy, at: field.child("policy"))
        }
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
