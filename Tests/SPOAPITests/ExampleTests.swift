import Foundation
import KubeModels
import SPOAPI
import Testing

@Suite struct ExampleTests {
    @Test func everyExampleDecodesValidatesAndRoundTripsWithoutLosingAField() throws {
        let examples = try exampleDocuments()
        #expect(examples.count >= 10)
        var kinds = Set<String>()
        for (file, json) in examples {
            let object = try decodeObject(json)
            #expect(object.validate().isEmpty, "\(file): \(object.validate())")
            #expect(try encoded(object) == json, "\(file) changed in a round trip")
            kinds.insert(json["kind"]?.stringValue ?? "")
        }
        #expect(kinds == [
            "SeccompProfile", "SelinuxProfile", "RawSelinuxProfile", "AppArmorProfile", "ProfileRecording",
            "ProfileBinding", "SecurityProfilesOperatorDaemon", "SecurityProfileNodeStatus",
        ], "one example per kind")
    }

    @Test func seedProfilesDecodeToWhatTheUserWrote() throws {
        let seed = try String(contentsOf: examplesDirectory.appendingPathComponent("seed/seccompprofiles.yaml"), encoding: .utf8)
        let profiles = try documents(yaml: seed).map { try APIDecoder.decode(SeccompProfile.self, from: try $0.encoded()) }
        #expect(profiles.count == 2)
        #expect(profiles[0].metadata.namespace == "my-namespace")
        #expect(profiles[0].spec?.defaultAction == .errno)
        #expect(profiles[0].spec?.baseProfileName == "runc-v1.0.0")
        #expect(profiles[0].spec?.syscalls == [SeccompProfile.Syscall(names: ["exit_group"], action: .allow)])
        #expect(profiles[1].spec?.defaultAction == .log)
        #expect(profiles[1].spec?.syscalls == nil)
    }

    /// The `kubectl patch spod spod --type merge -p ...` bodies users already have.
    @Test(arguments: [
        "allowed-syscalls", "memory-optimization", "daemon-resources", "priority-class", "log-enricher",
        "recording-webhook-object-selector",
    ])
    func spodMergePatchesApplyAndValidate(name: String) throws {
        let patchData = try Data(contentsOf: examplesDirectory.appendingPathComponent("spod-patches/\(name).json"))
        let patch = try JSONDecoder().decode(JSONValue.self, from: patchData)
        let original = try JSONValue(encoding: SecurityProfilesOperatorDaemon.defaultObject(namespace: "security-profiles-operator", staticWebhookConfig: false))
        let patched = original.applyingMergePatch(patch)
        let spod = try APIDecoder.decode(SecurityProfilesOperatorDaemon.self, from: try patched.encoded())
        #expect(spod.validate().isEmpty, "\(spod.validate())")
        let spec = try #require(spod.spec)
        switch name {
        case "allowed-syscalls": #expect(spec.allowedSyscalls == ["exit", "exit_group", "futex", "nanosleep"])
        case "memory-optimization": #expect(spec.enableMemoryOptimization == true)
        case "daemon-resources":
            #expect(spec.daemonResourceRequirements?.requests == ["memory": "256Mi", "cpu": "250m"])
            #expect(spec.daemonResourceRequirements?.limits == ["memory": "512Mi", "cpu": "500m"])
        case "priority-class": #expect(spec.priorityClassName == "my-priority-class")
        case "log-enricher": #expect(spec.enableLogEnricher == true)
        default:
            let option = try #require(spec.webhookOptions?.first)
            #expect(option.name == "recording.spo.io")
            #expect(option.objectSelector?.matchExpressions == [LabelSelectorRequirement(key: "spo-record", operator: "In", values: ["true"])])
        }
        // The patch touched only its own field: everything else is as the manager created it.
        #expect(spec.tolerations == SecurityProfilesOperatorDaemon.defaultTolerations)
        #expect(try JSONValue(encoding: spod) == patched, "decoding the patched object loses nothing")
    }
}
