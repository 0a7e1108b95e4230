import Foundation
import KubeModels
import SPOAPI
import SeccompCompiler
import Testing
import Yams

@Suite struct CompilerTests {
    /// Every SeccompProfile under examples/, as YAML documents decoded into the API type.
    static func exampleProfiles() throws -> [SeccompProfile] {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples")
        let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)!
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "yaml" }
        return try files.flatMap { file in
            try Yams.load_all(yaml: String(contentsOf: file, encoding: .utf8))
                .compactMap { $0 as? [String: Any] }
                .filter { $0["kind"] as? String == "SeccompProfile" }
                .map { try APIDecoder.decode(SeccompProfile.self, from: JSONSerialization.data(withJSONObject: $0)) }
        }
    }

    @Test func thisKernelEnforcesSeccompFilters() {
        // node-testing.md: these machines load filters for real; a daemon here must be ready.
        #expect(SeccompSupport.isEnabled)
    }

    @Test func everyExampleSeccompProfileCompiles() throws {
        let profiles = try Self.exampleProfiles()
        #expect(profiles.count >= 3)
        for profile in profiles {
            let filter = try SeccompFilter.compile(try #require(profile.spec))
            #expect(try filter.bpfInstructionCount() > 0, "\(profile.metadata.name ?? "")")
        }
    }

    @Test func unknownSyscallsAreRejectedWithTheirField() {
        let spec = SeccompProfile.Spec(defaultAction: .errno, syscalls: [.init(names: ["read", "not_a_syscall"], action: .allow)])
        #expect(throws: SeccompCompileError(field: "spec.syscalls[0].names[1]", "unknown syscall \"not_a_syscall\" on the native architecture")) {
            try SeccompFilter.compile(spec)
        }
    }

    @Test func namesMustExistOnEveryListedArchitecture() {
        // arch_prctl exists on x86_64 but not on aarch64.
        let spec = SeccompProfile.Spec(defaultAction: .errno, architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"], syscalls: [.init(names: ["arch_prctl"], action: .allow)])
        #expect(throws: SeccompCompileError(field: "spec.syscalls[0].names[0]", "unknown syscall \"arch_prctl\" on SCMP_ARCH_AARCH64")) {
            try SeccompFilter.compile(spec)
        }
    }

    @Test func unsupportedActionsAndFlagsAreClearErrors() {
        #expect(throws: SeccompCompileError(field: "spec.defaultAction", "unsupported action \"SCMP_ACT_PERMIT\"")) {
            try SeccompFilter.compile(.init(defaultAction: "SCMP_ACT_PERMIT"))
        }
        #expect(throws: SeccompCompileError.self) {
            try SeccompFilter.compile(.init(defaultAction: .errno, flags: ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]))
        }
    }

    @Test func rulesRepeatingTheDefaultActionAndRepeatedArgIndicesAreAccepted() throws {
        let spec = SeccompProfile.Spec(defaultAction: .allow, syscalls: [
            .init(names: ["read"], action: .allow),
            .init(names: ["ioctl"], action: .errno, args: [.init(index: 1, value: 1, op: "SCMP_CMP_EQ"), .init(index: 1, value: 2, op: "SCMP_CMP_EQ")]),
        ])
        #expect(try SeccompFilter.compile(spec).bpfInstructionCount() > 0)
    }

    @Test func tenThousandNameProfilesCompile() throws {
        let known = ["read", "write", "openat", "close", "mmap", "futex", "brk", "exit_group"]
        let names = (0..<10_000).map { known[$0 % known.count] }
        let filter = try SeccompFilter.compile(.init(defaultAction: .errno, syscalls: [.init(names: names, action: .allow)]))
        #expect(try filter.bpfInstructionCount() > 0)
    }

    @Test func libseccompValidatesNamesForTheAPI() {
        let validator = LibseccompSyscallNames()
        #expect(validator.isKnown("mkdirat"))
        #expect(!validator.isKnown("mkdirr"))
        let profile = SeccompProfile(metadata: ObjectMeta(name: "p", namespace: "n"), spec: .init(defaultAction: .errno, syscalls: [.init(names: ["mkdirr"], action: .allow)]))
        #expect(profile.validate(ValidationContext(syscallNames: validator)).map(\.field) == ["spec.syscalls[0].names[0]"])
    }
}
