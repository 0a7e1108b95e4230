import Foundation
import SPOAPI
import SeccompKit
import Testing

/// Reading and writing the three profile formats of spoc.
struct ProfileDocumentTests {
    let crd = """
        apiVersion: security-profiles-operator.x-k8s.io/v1beta1
        kind: SeccompProfile
        metadata:
          name: web
          namespace: shop
        spec:
          defaultAction: SCMP_ACT_ERRNO
          baseProfileName: runc-v1.0.0
          architectures: [SCMP_ARCH_X86_64]
          syscalls:
          - action: SCMP_ACT_ALLOW
            names: [read, write]
          - action: SCMP_ACT_ERRNO
            errnoRet: 38
            names: [personality]
            args:
            - {index: 0, value: 8, op: SCMP_CMP_NE}
        """

    func read(_ text: String) throws -> [ProfileDocument] {
        try ProfileDocument.read(Data(text.utf8))
    }

    func readError(_ text: String) -> String {
        do {
            _ = try read(text)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func aSeccompProfileObjectIsReadWithItsNameAndNamespace() throws {
        let documents = try read(crd)
        #expect(documents.count == 1)
        let document = documents[0]
        #expect(document.format == .crd)
        #expect(document.name == "web" && document.namespace == "shop")
        #expect(document.spec.baseProfileName == "runc-v1.0.0")
        #expect(document.spec.syscalls?.count == 2)
        #expect(document.spec.syscalls?[1].args?.first?.value == 8)
    }

    @Test func rawJSONAndOCIConfigurationsAreRecognised() throws {
        let raw = try read(#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#)
        #expect(raw.map(\.format) == [.json])
        #expect(raw[0].spec.syscalls?.first?.names == ["read"])
        let config = try read(#"{"ociVersion":"1.0.2","process":{"args":["sh"]},"linux":{"namespaces":[],"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"}}}"#)
        #expect(config.map(\.format) == [.oci])
        #expect(config[0].spec.defaultAction == .allow)
    }

    @Test func severalDocumentsInOneStreamAreAllRead() throws {
        let documents = try read(crd + "\n---\n" + crd.replacingOccurrences(of: "name: web", with: "name: api"))
        #expect(documents.compactMap(\.name) == ["web", "api"])
    }

    @Test func otherKindsAreRefusedOrSkipped() throws {
        let binding = "apiVersion: security-profiles-operator.x-k8s.io/v1alpha1\nkind: ProfileBinding\nmetadata: {name: b}\n"
        #expect(readError(binding) == "kind ProfileBinding is not a SeccompProfile")
        #expect(try ProfileDocument.read(Data((binding + "---\n" + crd).utf8), skippingOtherKinds: true).compactMap(\.name) == ["web"])
    }

    @Test func badInputGetsOneLineThatNamesThePlace() {
        #expect(readError("a: [unclosed").hasPrefix("not YAML or JSON: "))
        #expect(!readError("a: [unclosed").contains("\n"))
        #expect(readError("- just\n- a list\n") == "expected a mapping at the top level")
        #expect(readError("") == "no profile in the file")
        #expect(readError(#"{"hello":"world"}"#).hasPrefix("neither a SeccompProfile"))
        #expect(readError(#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[]}"#) == "archMap: not a field of a seccomp profile")
        #expect(readError(#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1}"#).hasPrefix("defaultErrnoRet: not supported"))
        #expect(readError(#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"name":"read","action":"SCMP_ACT_ALLOW"}]}"#)
            == "syscalls[0].name: not supported")
        #expect(readError(#"{"linux":{"namespaces":[]}}"#) == "linux.seccomp: not found in the OCI configuration")
        #expect(readError(#"{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","includes":{}}}}"#) == "linux.seccomp.includes: not a field of a seccomp profile")
        #expect(readError("kind: SeccompProfile\nmetadata: {name: x}\n") == "spec: Required value")
        #expect(readError("kind: SeccompProfile\nmetadata: {name: x}\nspec: {defaultAction: 5}\n").contains("spec.defaultAction"))
        #expect(readError(crd + "\n---\nkind: Pod\n") == "document 2: kind Pod is not a SeccompProfile")
    }

    @Test func crdOutputIsBlockYAMLInTheInstalledFieldOrder() throws {
        let spec = try read(crd)[0].spec
        let text = ProfileDocument.render(spec, as: .crd, name: "web", namespace: "shop")
        #expect(text == """
            apiVersion: security-profiles-operator.x-k8s.io/v1beta1
            kind: SeccompProfile
            metadata:
              name: web
              namespace: shop
            spec:
              baseProfileName: runc-v1.0.0
              defaultAction: SCMP_ACT_ERRNO
              architectures:
              - SCMP_ARCH_X86_64
              syscalls:
              - names:
                - read
                - write
                action: SCMP_ACT_ALLOW
              - names:
                - personality
                action: SCMP_ACT_ERRNO
                errnoRet: 38
                args:
                - index: 0
                  value: 8
                  op: SCMP_CMP_NE

            """)
        #expect(try read(text)[0].spec == spec)
    }

    @Test func runtimeFormatsLeaveOutWhatRuntimesDoNotRead() throws {
        var spec = try read(crd)[0].spec
        spec.disabled = true
        #expect(ProfileDocument.render(spec, as: .json, name: "web") == """
            {"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"},{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":38,"args":[{"index":0,"value":8,"op":"SCMP_CMP_NE"}]}]}

            """)
        let oci = ProfileDocument.render(spec, as: .oci, name: "web")
        #expect(oci.hasPrefix(#"{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","architectures""#))
        let back = try read(oci)[0]
        #expect(back.format == .oci)
        #expect(back.spec == ProfileDocument.runtimeSpec(spec))
    }

    @Test func stringsYAMLWouldMisreadStayQuoted() throws {
        let spec = SeccompProfile.Spec(defaultAction: .errno, syscalls: [.init(names: ["true", "123", "null"], action: .allow)])
        let text = ProfileDocument.render(spec, as: .crd, name: "odd")
        #expect(try read(text)[0].spec == spec)
    }
}

/// Lint warnings of spoc validate.
struct ProfileLintTests {
    func spec(_ defaultAction: SeccompAction, _ rules: [SeccompProfile.Syscall]) -> SeccompProfile.Spec {
        SeccompProfile.Spec(defaultAction: defaultAction, syscalls: rules)
    }

    @Test func aTightAllowListHasNoWarnings() {
        #expect(ProfileLint.warnings(for: spec(.errno, [.init(names: BuiltInProfiles.runcSyscalls + ["exit_group"], action: .allow)])) == [])
        #expect(ProfileLint.warnings(for: spec(.killProcess, [.init(names: BuiltInProfiles.crunSyscalls, action: .allow)])) == [])
    }

    /// A hand-written deny-by-default profile without the runtime's calls cannot start any
    /// container: the warning names what each runtime lacks.
    @Test func aDenyingProfileWithoutTheRuntimesCallsIsReported() {
        let bare = ProfileLint.warnings(for: spec(.errno, [.init(names: ["exit_group"], action: .allow)]))
        #expect(bare == [
            "defaultAction SCMP_ACT_ERRNO denies what a container runtime calls after loading the filter, so no container can start under this profile: "
                + "runc needs \(BuiltInProfiles.runcSyscalls.joined(separator: ", ")); crun needs \(BuiltInProfiles.crunSyscalls.joined(separator: ", ")); "
                + "allow them or set baseProfileName: runc-v1.1.12 or crun-v1.15",
        ])
        // Almost runc's list: only the missing calls are named; a denied one counts as missing.
        let almost = ProfileLint.warnings(for: spec(.kill, [
            .init(names: BuiltInProfiles.runcSyscalls.filter { $0 != "capset" && $0 != "setgroups" }, action: .allow),
            .init(names: ["setgroups"], action: .errno),
        ]))
        #expect(almost.count == 1)
        #expect(almost[0].contains("runc needs capset, setgroups; crun needs "), "\(almost)")
        // Logging or allowing by default, or a trace/notify default, is not this problem.
        for action: SeccompAction in [.allow, .log, .trace, .notify] {
            #expect(!ProfileLint.warnings(for: spec(action, [.init(names: ["kexec_load"], action: .errno)])).contains { $0.contains("container runtime") })
        }
    }

    @Test func riskySyscallsAllowedOrLoggedAreNamedWithTheReason() {
        let warnings = ProfileLint.warnings(for: spec(.errno, [
            .init(names: ["read", "ptrace", "bpf"] + BuiltInProfiles.runcSyscalls, action: .allow), .init(names: ["unshare"], action: .log),
        ]))
        #expect(warnings == [
            "bpf is allowed: it loads programs into the kernel",
            "ptrace is allowed: it inspects and controls other processes",
            "unshare is allowed: it creates namespaces (user namespaces expose kernel attack surface)",
        ])
    }

    @Test func anAllowByDefaultProfileThatDeniesNothingIsReported() {
        let warnings = ProfileLint.warnings(for: spec(.allow, [.init(names: ["read"], action: .log)]))
        #expect(warnings.first == "defaultAction SCMP_ACT_ALLOW and no rule that denies anything: the profile blocks nothing")
        #expect(warnings.count == 2)
        #expect(warnings[1].hasPrefix("\(ProfileLint.riskySyscalls.count) risky syscalls are allowed by the default action SCMP_ACT_ALLOW: acct, add_key"))
    }

    @Test func anAllowByDefaultProfileNamesOnlyTheRiskyCallsItDoesNotDeny() {
        var denied = Array(ProfileLint.riskySyscalls.keys)
        denied.removeAll { $0 == "mount" }
        let warnings = ProfileLint.warnings(for: spec(.allow, [
            .init(names: denied, action: .errno),
            // Denied only for one argument value: still allowed otherwise.
            .init(names: ["mount"], action: .errno, args: [.init(index: 0, value: 1, op: .init(rawValue: "SCMP_CMP_EQ"))]),
        ]))
        #expect(warnings == ["1 risky syscalls are allowed by the default action SCMP_ACT_ALLOW: mount"])
    }

    @Test func contradictoryUnconditionalRulesAreReported() {
        let warnings = ProfileLint.warnings(for: spec(.errno, [
            .init(names: ["read"], action: .allow), .init(names: ["read"], action: .errno), .init(names: BuiltInProfiles.crunSyscalls, action: .allow),
        ]))
        #expect(warnings == ["read has unconditional rules with different actions (SCMP_ACT_ALLOW, SCMP_ACT_ERRNO); the kernel applies the most restrictive"])
    }
}
