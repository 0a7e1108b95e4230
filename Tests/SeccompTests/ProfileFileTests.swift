import Foundation
import KubeModels
import SPOAPI
import SeccompKit
import Testing

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

@Suite struct ProfileFileTests {
    @Test func minimalProfileIsTheReferenceBody() {
        #expect(text(ProfileFile.render(.init(defaultAction: .errno))) == #"{"defaultAction":"SCMP_ACT_ERRNO"}"#)
    }

    @Test func fieldsFollowTheUpstreamOrderWithGoOmitempty() {
        var spec = SeccompProfile.Spec(
            defaultAction: .errno, disabled: false, baseProfileName: "runc-v1.0.0",
            architectures: ["SCMP_ARCH_X86_64"],
            syscalls: [
                .init(names: ["write", "read"], action: .allow, errnoRet: 0,
                      args: [.init(index: 0, value: 0, valueTwo: 0, op: "SCMP_CMP_EQ"), .init(index: 1, value: 8, valueTwo: 3, op: "SCMP_CMP_MASKED_EQ")]),
                .init(names: ["mkdir"], action: .errno, errnoRet: 13),
            ],
            flags: ["SECCOMP_FILTER_FLAG_LOG"])
        spec.listenerPath = "/var/run/agent.sock"
        spec.listenerMetadata = "m"
        #expect(text(ProfileFile.render(spec)) == #"{"baseProfileName":"runc-v1.0.0","defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"listenerPath":"/var/run/agent.sock","listenerMetadata":"m","syscalls":[{"names":["write","read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"op":"SCMP_CMP_EQ"},{"index":1,"value":8,"valueTwo":3,"op":"SCMP_CMP_MASKED_EQ"}]},{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13}],"flags":["SECCOMP_FILTER_FLAG_LOG"]}"#)
    }

    @Test func theFileDecodesBackToTheSpec() throws {
        let spec = SeccompProfile.Spec(defaultAction: .log, architectures: ["SCMP_ARCH_X86_64"], syscalls: [.init(names: ["read"], action: .allow)])
        let decoded = try APIDecoder.decode(SeccompProfile.Spec.self, from: Data(ProfileFile.render(spec)))
        #expect(decoded == spec)
    }

    /// Plain names are quoted directly; anything that needs escaping goes through the encoder.
    @Test func stringsThatNeedEscapingAreEscaped() throws {
        let listener = "/run/a\"b\\c\u{1}\u{7f}é<&>"
        var spec = SeccompProfile.Spec(defaultAction: .errno)
        spec.listenerPath = listener
        let rendered = text(ProfileFile.render(spec))
        #expect(rendered.hasPrefix(#"{"defaultAction":"SCMP_ACT_ERRNO","listenerPath":"/run/a\"b\\c\u0001"#))
        let decoded = try APIDecoder.decode(SeccompProfile.Spec.self, from: Data(rendered.utf8))
        #expect(decoded.listenerPath == listener)
    }

    @Test func theSyscallsAnnotationIsTheRulesAsGoMarshalsThem() throws {
        let rules: [SeccompProfile.Syscall] = [
            .init(names: ["read", "write"], action: .allow),
            .init(names: ["mkdir"], action: .errno, errnoRet: 13, args: [.init(index: 1, value: 8, op: "SCMP_CMP_EQ")]),
        ]
        #expect(ProfileFile.syscallsAnnotation(rules) == #"[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"},{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13,"args":[{"index":1,"value":8,"op":"SCMP_CMP_EQ"}]}]"#)
        #expect(ProfileFile.syscallsAnnotation(nil) == "null")
        #expect(ProfileFile.syscallsAnnotation([]) == "[]")
    }

    @Test func localhostProfilePaths() {
        #expect(ProfileFile.localhostProfile(namespace: "default", name: "hello") == "operator/default/hello.json")
        #expect(ProfileFile.localhostProfile(namespace: "default", name: "hello.json") == "operator/default/hello.json")
    }
}

@Suite struct BaseProfileTests {
    func spec(_ base: String?, _ rules: [(SeccompAction, [String])]) -> SeccompProfile.Spec {
        SeccompProfile.Spec(defaultAction: .errno, baseProfileName: base, syscalls: rules.map { .init(names: $0.1, action: $0.0) })
    }

    @Test func basesMergeRecursivelyWithSortedNamesAndActions() throws {
        let profiles: [String: SeccompProfile.Spec] = [
            "runtime": spec(nil, [(.allow, ["read", "close"])]),
            "middle": spec("runtime", [(.log, ["uname"]), (.allow, ["write"])]),
        ]
        let child = spec("middle", [(.allow, ["mkdir", "futex"])])
        let resolved = try BaseProfiles.resolve(child, name: "app", lookup: { profiles[$0] })
        #expect(resolved.syscalls?.map { "\($0.action!) \($0.names!.joined(separator: ","))" } == [
            "SCMP_ACT_ALLOW close,read",
            "SCMP_ACT_ALLOW write",
            "SCMP_ACT_ALLOW futex,mkdir",
            "SCMP_ACT_LOG uname",
        ])
        #expect(resolved.baseProfileName == "middle", "kept, as upstream writes it")
        #expect(resolved.defaultAction == .errno)
    }

    @Test func onlySyscallsComeFromTheBase() throws {
        var base = spec(nil, [(.allow, ["read"])])
        base.defaultAction = .allow
        base.architectures = ["SCMP_ARCH_ARM"]
        let resolved = try BaseProfiles.resolve(spec("base", []), name: "app", lookup: { $0 == "base" ? base : nil })
        #expect(resolved.defaultAction == .errno)
        #expect(resolved.architectures == nil)
    }

    @Test func failuresAreSpecific() {
        #expect(throws: BaseProfiles.Failure.missing(name: "gone", referencedBy: "app")) {
            try BaseProfiles.resolve(spec("gone", []), name: "app", lookup: { _ in nil })
        }
        let cycle: [String: SeccompProfile.Spec] = ["a": spec("b", []), "b": spec("a", [])]
        #expect(throws: BaseProfiles.Failure.cycle(["a", "b", "a"])) {
            try BaseProfiles.resolve(cycle["a"]!, name: "a", lookup: { cycle[$0] })
        }
        #expect(throws: BaseProfiles.Failure.unsupportedReference("oci://ghcr.io/security-profiles/runc:v1.1.12")) {
            try BaseProfiles.resolve(spec("oci://ghcr.io/security-profiles/runc:v1.1.12", []), name: "app", lookup: { _ in nil })
        }
        // A chain of 20 distinct profiles exceeds the depth limit of 15.
        let chain = Dictionary(uniqueKeysWithValues: (0..<20).map { ("p\($0)", spec("p\($0 + 1)", [])) })
        #expect(throws: BaseProfiles.Failure.tooDeep) {
            try BaseProfiles.resolve(spec("p0", []), name: "app", lookup: { chain[$0] })
        }
        #expect(BaseProfiles.Failure.tooDeep.description == "max recursion level of 15 is reached for resolving base profiles")
    }
}

@Suite struct AllowListTests {
    let guardList = AllowList(allowedSyscalls: ["exit", "exit_group", "futex", "nanosleep"])

    @Test func profilesWithinTheListPass() {
        let spec = SeccompProfile.Spec(defaultAction: .errno, syscalls: [.init(names: ["exit", "futex"], action: .allow), .init(names: ["mkdir"], action: .errno)])
        #expect(guardList.violation(of: spec) == nil, "ERRNO rules are not restricted")
    }

    @Test func everyOffendingSyscallIsNamed() {
        let spec = SeccompProfile.Spec(defaultAction: .errno, syscalls: [.init(names: ["exit", "mkdir", "read"], action: .allow), .init(names: ["uname", "read"], action: .log)])
        #expect(guardList.violation(of: spec) == "syscall not allowed: mkdir, read, uname")
    }

    @Test func aRestrictedDefaultActionIsRejected() {
        #expect(guardList.violation(of: .init(defaultAction: .log))?.hasPrefix("seccomp profile not allowed") == true)
    }

    @Test func spodActionsOutsideTheRestrictableOnesRejectEverything() {
        let strict = AllowList(allowedSyscalls: ["exit"], allowedActions: ["SCMP_ACT_KILL"])
        #expect(strict.violation(of: .init(defaultAction: .errno)) == "seccomp action not allowed: SCMP_ACT_KILL")
    }

    @Test func theGuardIsOffWithoutAList() {
        var spod = SecurityProfilesOperatorDaemon.Spec()
        #expect(AllowList(spod: spod) == nil)
        spod.allowedSyscalls = []
        #expect(AllowList(spod: spod) == nil)
        spod.allowedSyscalls = ["exit"]
        #expect(AllowList(spod: spod)?.allowedSyscalls == ["exit"])
    }
}
