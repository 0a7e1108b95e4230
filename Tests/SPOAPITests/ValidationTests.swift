import Foundation
import KubeModels
import SPOAPI
import Testing

@Suite struct SeccompValidationTests {
    func profile(_ spec: String, name: String = "p") -> String {
        """
        apiVersion: security-profiles-operator.x-k8s.io/v1beta1
        kind: SeccompProfile
        metadata: {name: "\(name)", namespace: default}
        spec: \(spec)
        """
    }

    @Test func unknownActionNamesTheFieldAndTheSupportedValues() throws {
        let problems = try seccompProblems(profile("{defaultAction: SCMP_ACT_PERMIT}"))
        #expect(problems == [
            #"spec.defaultAction: Unsupported value: "SCMP_ACT_PERMIT": supported values: "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY""#,
        ])
    }

    @Test func everyProblemIsReportedWithItsPath() throws {
        let problems = try seccompProblems(profile("""
            {architectures: [SCMP_ARCH_X86_64, SCMP_ARCH_Z80], flags: [FLAG_X],
             syscalls: [{action: SCMP_ACT_ALLOW, names: []},
                        {action: SCMP_ACT_NOPE, names: [read, ""]},
                        {names: [write], action: SCMP_ACT_ERRNO, args: [{index: 9, op: SCMP_CMP_ALMOST}]}]}
            """))
        #expect(problems.map { $0.components(separatedBy: ": ").prefix(2).joined(separator: ": ") } == [
            "spec.defaultAction: Required value",
            "spec.architectures[1]: Unsupported value",
            "spec.flags[0]: Unsupported value",
            "spec.syscalls[0].names: Required value",
            "spec.syscalls[1].action: Unsupported value",
            "spec.syscalls[1].names[1]: Required value",
            "spec.syscalls[2].args[0].index: Invalid value",
            "spec.syscalls[2].args[0].op: Unsupported value",
        ])
    }

    @Test func tooManyArgumentFilters() throws {
        let args = (0..<7).map { "{index: \($0 % 6), op: SCMP_CMP_EQ}" }.joined(separator: ", ")
        let problems = try seccompProblems(profile("{defaultAction: SCMP_ACT_ERRNO, syscalls: [{action: SCMP_ACT_ALLOW, names: [read], args: [\(args)]}]}"))
        #expect(problems == [#"spec.syscalls[0].args: Too many: "7": must have at most 6 items"#])
    }

    @Test(arguments: ["../etc", "a/b", "a..b", "..", "UPPER", ".hidden", "-dash"])
    func namesThatCouldEscapeTheProfileDirectoryAreInvalid(name: String) throws {
        let problems = try seccompProblems(profile("{defaultAction: SCMP_ACT_LOG}", name: name))
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("metadata.name: Invalid value: \"\(name)\"") == true)
    }

    @Test func aNameIsRequired() throws {
        let problems = try seccompProblems("""
            apiVersion: security-profiles-operator.x-k8s.io/v1beta1
            kind: SeccompProfile
            metadata: {namespace: default}
            spec: {defaultAction: SCMP_ACT_LOG}
            """)
        #expect(problems == ["metadata.name: Required value: name or generateName is required"])
    }

    @Test(arguments: [
        ("{defaultAction: 5}", "spec.defaultAction: Invalid type: expected string"),
        ("{defaultAction: SCMP_ACT_LOG, syscalls: allow-all}", "spec.syscalls: Invalid type: expected array"),
        ("{defaultAction: SCMP_ACT_LOG, disabled: maybe}", "spec.disabled: Invalid type: expected boolean"),
        ("{defaultAction: SCMP_ACT_LOG, syscalls: [{action: SCMP_ACT_ALLOW, names: [read], args: [{index: -1, op: SCMP_CMP_EQ}]}]}", "spec.syscalls[0].args[0].index: Invalid value: \"-1\": must be between 0 and 5"),
        ("{defaultAction: SCMP_ACT_LOG, syscalls: [{action: SCMP_ACT_ALLOW, names: [read], args: [{index: 0, value: -2, op: SCMP_CMP_EQ}]}]}", "spec.syscalls[0].args[0].value: Invalid value: \"-2\": must be greater than or equal to 0"),
        ("{defaultAction: SCMP_ACT_LOG, syscalls: [{action: SCMP_ACT_ALLOW, names: [read], args: [{index: 1.5, op: SCMP_CMP_EQ}]}]}", "spec.syscalls[0].args[0].index: Invalid type: expected integer"),
        ("{defaultAction: SCMP_ACT_LOG, syscalls: [{action: SCMP_ACT_ALLOW, names: read}]}", "spec.syscalls[0].names: Invalid type: expected array"),
    ])
    func wrongTypesAndRangesNameTheField(spec: String, expected: String) throws {
        let problems = try seccompProblems(profile(spec))
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix(expected) == true, "\(problems)")
    }

    struct TwoSyscalls: SyscallNameValidator {
        func isKnown(_ name: String) -> Bool { ["read", "write"].contains(name) }
    }

    @Test func syscallNamesAreCheckedByAPluggableValidator() throws {
        let yaml = profile("{defaultAction: SCMP_ACT_ERRNO, syscalls: [{action: SCMP_ACT_ALLOW, names: [read, wrte]}]}")
        #expect(try seccompProblems(yaml).isEmpty, "without a validator names are not checked, as upstream")
        #expect(try seccompProblems(yaml, context: ValidationContext(syscallNames: TwoSyscalls()))
            == [#"spec.syscalls[0].names[1]: Unsupported value: "wrte": unknown syscall"#])
    }

    @Test func validatedThrowsEveryProblemAtOnce() {
        let profile = SeccompProfile(metadata: ObjectMeta(name: "a/b", namespace: "default"), spec: .init(defaultAction: "nope"))
        #expect(throws: ValidationFailure.self) { try profile.validated() }
        do {
            _ = try profile.validated()
        } catch {
            #expect(error.problems.map(\.field) == ["metadata.name", "spec.defaultAction"])
        }
    }
}

@Suite struct OtherKindsValidationTests {
    func problems(_ yaml: String) throws -> [String] {
        let json = try #require(try documents(yaml: yaml).first)
        return try decodeObject(json).validate().map(\.description)
    }

    @Test func appArmorAndRawSelinuxNeedAPolicy() throws {
        #expect(try problems("""
            {apiVersion: security-profiles-operator.x-k8s.io/v1alpha1, kind: AppArmorProfile, metadata: {name: a, namespace: n}, spec: {}}
            """) == ["spec.policy: Required value: set policy or abstract"])
        #expect(try problems("""
            {apiVersion: security-profiles-operator.x-k8s.io/v1alpha2, kind: RawSelinuxProfile, metadata: {name: a, namespace: n}, spec: {policy: ""}}
            """) == ["spec.policy: Required value"])
        #expect(try problems("""
            {apiVersion: security-profiles-operator.x-k8s.io/v1alpha1, kind: AppArmorProfile, metadata: {name: a, namespace: n}}
            """) == ["spec: Required value"])
    }

    @Test func selinuxInheritKindsAndPermissions() throws {
        #expect(try problems("""
            apiVersion: security-profiles-operator.x-k8s.io/v1alpha2
            kind: SelinuxProfile
            metadata: {name: a, namespace: n}
            spec:
              inherit: [{kind: Module, name: x}, {name: ""}]
              allow: {'@self': {tcp_socket: []}}
            """) == [
                #"spec.inherit[0].kind: Unsupported value: "Module": supported values: "System", "SelinuxProfile""#,
                "spec.inherit[1].name: Required value",
                "spec.allow[@self][tcp_socket]: Required value: at least one permission is required",
            ])
    }

    @Test func recordingsNeedKindRecorderAndSelectorAndSelinuxNeedsLogs() throws {
        #expect(try problems("""
            {apiVersion: security-profiles-operator.x-k8s.io/v1alpha1, kind: ProfileRecording, metadata: {name: r, namespace: n}, spec: {mergeStrategy: all}}
            """) == [
                "spec.kind: Required value",
                "spec.recorder: Required value",
                #"spec.mergeStrategy: Unsupported value: "all": supported values: "none", "containers""#,
                "spec.podSelector: Required value",
            ])
        #expect(try problems("""
            apiVersion: security-profiles-operator.x-k8s.io/v1alpha1
            kind: ProfileRecording
            metadata: {name: r, namespace: n}
            spec: {kind: SelinuxProfile, recorder: bpf, podSelector: {matchExpressions: [{key: app, operator: In}]}}
            """) == [
                #"spec.recorder: Unsupported value: "bpf": SelinuxProfile recordings need the logs recorder"#,
                "spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            ])
    }

    /// Upstream's two kinds, and beyond upstream AppArmorProfile; nothing else.
    @Test func bindingsSupportSeccompSelinuxAndAppArmorProfiles() throws {
        #expect(try problems("""
            apiVersion: security-profiles-operator.x-k8s.io/v1alpha1
            kind: ProfileBinding
            metadata: {name: b, namespace: n}
            spec: {profileRef: {kind: RawSelinuxProfile, name: p}}
            """) == [
                #"spec.profileRef.kind: Unsupported value: "RawSelinuxProfile": supported values: "SeccompProfile", "SelinuxProfile", "AppArmorProfile""#,
                "spec.image: Required value",
            ])
        #expect(try problems("""
            apiVersion: security-profiles-operator.x-k8s.io/v1alpha1
            kind: ProfileBinding
            metadata: {name: b, namespace: n}
            spec: {profileRef: {kind: AppArmorProfile, name: p}, image: nginx}
            """) == [])
    }

    @Test func spodWebhookOptionsAndVerbosity() throws {
        #expect(try problems("""
            apiVersion: security-profiles-operator.x-k8s.io/v1alpha1
            kind: SecurityProfilesOperatorDaemon
            metadata: {name: spod, namespace: security-profiles-operator}
            spec:
              verbosity: 3
              webhookOptions: [{name: binding.spo.io, failurePolicy: Sometimes, namespaceSelector: {matchExpressions: [{key: k, operator: Near}]}}]
            """) == [
                #"spec.verbosity: Unsupported value: "3": supported values: 0, 1"#,
                #"spec.webhookOptions[0].failurePolicy: Unsupported value: "Sometimes": supported values: "Fail", "Ignore""#,
                #"spec.webhookOptions[0].namespaceSelector.matchExpressions[0].operator: Unsupported value: "Near": supported values: "In", "NotIn", "Exists", "DoesNotExist""#,
            ])
    }

    @Test func spodDaemonSettingsAreCheckedAsKubernetesWouldCheckThePod() throws {
        #expect(try problems("""
            apiVersion: security-profiles-operator.x-k8s.io/v1alpha1
            kind: SecurityProfilesOperatorDaemon
            metadata: {name: spod, namespace: security-profiles-operator}
            spec:
              priorityClassName: System_Critical
              hostProcVolumePath: host/proc
              tolerations:
              - {operator: Equal, value: x}
              - {key: a, operator: Exists, value: x}
              - {key: "bad key!", operator: Sometimes, effect: Never}
              - {key: b, operator: Exists, effect: NoSchedule, tolerationSeconds: 5}
              daemonResourceRequirements:
                requests: {memory: -64Mi, cpu: 2}
                limits: {memory: lots, cpu: 500m}
            """) == [
                #"spec.priorityClassName: Invalid value: "System_Critical": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"#,
                #"spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys""#,
                #"spec.tolerations[1].value: Invalid value: "x": value must be empty when `operator` is 'Exists'"#,
                #"spec.tolerations[2].operator: Unsupported value: "Sometimes": supported values: "Equal", "Exists""#,
                #"spec.tolerations[2].key: Invalid value: "bad key!": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', 'my.name', or '123-abc'), with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"#,
                #"spec.tolerations[2].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute""#,
                #"spec.tolerations[3].effect: Invalid value: "NoSchedule": effect must be 'NoExecute' when `tolerationSeconds` is set"#,
                #"spec.daemonResourceRequirements.limits[memory]: Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"#,
                #"spec.daemonResourceRequirements.requests[memory]: Invalid value: "-64Mi": must be greater than or equal to 0"#,
                #"spec.daemonResourceRequirements.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 500m"#,
                #"spec.hostProcVolumePath: Invalid value: "host/proc": must be an absolute path without '..'"#,
            ])
    }

    @Test(arguments: [
        ("128Mi", 134_217_728.0), ("250m", 0.25), ("1", 1), ("1.5", 1.5), ("2e3", 2000), ("1k", 1000), ("+3", 3), ("-1", -1), ("0.5Gi", 536_870_912),
    ])
    func quantitiesParse(text: String, value: Double) {
        #expect(Quantity(text).numericValue == value)
    }

    @Test(arguments: ["", "lots", "1..2", "Mi", "--1", "1e", "1 Mi", "."])
    func nonQuantitiesAreRejected(text: String) {
        #expect(Quantity(text).numericValue == nil)
    }

    @Test func nodeStatusNeedsANodeName() throws {
        #expect(try problems("""
            {apiVersion: security-profiles-operator.x-k8s.io/v1alpha1, kind: SecurityProfileNodeStatus, metadata: {name: s, namespace: n}, status: Sideways}
            """) == [
                "nodeName: Required value",
                #"status: Unsupported value: "Sideways": supported values: "Pending", "InProgress", "Installed", "Terminating", "Error", "Partial", "Disabled""#,
            ])
    }
}

@Suite struct DefaultingTests {
    @Test func defaultSpodIsTheManagersObject() throws {
        let spod = SecurityProfilesOperatorDaemon.defaultObject(namespace: "security-profiles-operator", staticWebhookConfig: true)
        #expect(spod.metadata.name == "spod")
        #expect(spod.metadata.labels == ["app": "security-profiles-operator"])
        let spec = try #require(spod.spec)
        #expect(spec.verbosity == 0)
        #expect(spec.hostProcVolumePath == "/proc")
        #expect(spec.priorityClassName == "system-node-critical")
        #expect(spec.selinuxOptions?.allowedSystemProfiles == ["container"])
        #expect(spec.staticWebhookConfig == true)
        #expect(spec.disableOciArtifactSignatureVerification == false)
        #expect(spec.tolerations?.map(\.key) == ["node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane", "node.kubernetes.io/not-ready"])
        #expect(spec.enableSelinux == nil, "nil means: on if the cluster is OpenShift")
        #expect(spod.validate().isEmpty)
    }

    @Test func crdDefaultsFillOnlyUnsetFields() {
        var spod = SecurityProfilesOperatorDaemon(metadata: ObjectMeta(name: "spod"), spec: .init())
        spod.spec?.priorityClassName = "mine"
        spod.applyDefaults()
        #expect(spod.spec?.priorityClassName == "mine")
        #expect(spod.spec?.selinuxTypeTag == "spc_t")
        #expect(spod.spec?.selinuxOptions?.allowedSystemProfiles == ["container"])

        let selinux = SelinuxProfile(metadata: ObjectMeta(name: "s"), spec: .init(inherit: [.init(name: "net_container")])).defaulted()
        #expect(selinux.spec?.inherit == [.init(kind: .system, name: "net_container")])
        #expect(selinux.spec?.disabled == false && selinux.spec?.permissive == false)
        #expect(SelinuxProfile(metadata: ObjectMeta(name: "s"), spec: .init()).defaulted().spec?.inherit == SelinuxProfile.defaultInherit)

        let seccomp = SeccompProfile(metadata: ObjectMeta(name: "p"), spec: .init(defaultAction: .log)).defaulted()
        #expect(seccomp.spec?.disabled == false)

        let recording = ProfileRecording(metadata: ObjectMeta(name: "r"), spec: .init(kind: .seccompProfile, recorder: .logs, podSelector: LabelSelector())).defaulted()
        #expect(recording.spec?.mergeStrategy == MergeStrategy.none)
        #expect(recording.spec?.disableProfileAfterRecording == false)
    }

    @Test func conditionsWithoutMessageDecodeAndEncodeAsWritten() throws {
        let json: JSONValue = ["type": "Ready", "status": "True", "lastTransitionTime": "2026-11-23T10:00:00Z", "reason": "Available"]
        let condition = try json.decode(as: Condition.self)
        #expect(condition.message == "")
        #expect(try JSONValue(encoding: condition) == json)
    }
}

@Suite struct DigestTests {
    @Test func sha256HexIsTheStandardDigest() {
        #expect(Digest.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.sha256Hex("").hasPrefix("e3b0c442"))
    }

    @Test func longProfileIDsEndInADigestPrefixAndStayWithin63Characters() {
        #expect(ProfileIdentity.profileID(kind: "SeccompProfile", name: "short") == "SeccompProfile-short")
        let name = String(repeating: "n", count: 60)
        let id = ProfileIdentity.profileID(kind: "SeccompProfile", name: name)
        #expect(id.count == 63)
        #expect(id == "SeccompProfile-" + Digest.sha256Hex("SeccompProfile-" + name).prefix(48))
    }
}
