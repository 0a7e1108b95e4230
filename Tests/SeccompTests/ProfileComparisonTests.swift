import SPOAPI
import SeccompKit
import Testing

@Suite struct ProfileComparisonTests {
    let base = SeccompProfile.Spec(
        defaultAction: .errno, architectures: [.init(rawValue: "SCMP_ARCH_X86_64")],
        syscalls: [
            .init(names: ["read", "write", "exit_group"], action: .allow),
            .init(names: ["mkdir"], action: .errno, errnoRet: 1),
        ])

    @Test func identicalProfilesHaveNoDifferenceWhateverTheEntryOrder() {
        var reordered = base
        reordered.syscalls = [.init(names: ["mkdir"], action: .errno, errnoRet: 1), .init(names: ["exit_group", "write", "read"], action: .allow)]
        #expect(ProfileDifference(from: base, to: reordered).isEmpty)
        #expect(ProfileDifference(from: base, to: reordered).lines.isEmpty)
    }

    @Test func everyKindOfChangeIsOneLine() {
        var changed = base
        changed.defaultAction = .log
        changed.architectures = [.init(rawValue: "SCMP_ARCH_AARCH64")]
        changed.flags = [.init(rawValue: "SECCOMP_FILTER_FLAG_LOG")]
        changed.syscalls = [
            .init(names: ["read", "exit_group", "openat"], action: .allow),
            .init(names: ["mkdir"], action: .errno, errnoRet: 13),
            .init(names: ["write"], action: .allow, args: [.init(index: 0, value: 1, op: .init(rawValue: "SCMP_CMP_EQ"))]),
        ]
        let difference = ProfileDifference(from: base, to: changed)
        #expect(difference.lines == [
            "~ defaultAction: SCMP_ACT_ERRNO -> SCMP_ACT_LOG",
            "+ architecture SCMP_ARCH_AARCH64",
            "- architecture SCMP_ARCH_X86_64",
            "+ flag SECCOMP_FILTER_FLAG_LOG",
            "~ mkdir: SCMP_ACT_ERRNO(1) -> SCMP_ACT_ERRNO(13)",
            "+ openat: SCMP_ACT_ALLOW",
            "~ write: SCMP_ACT_ALLOW -> SCMP_ACT_ALLOW if arg0 SCMP_CMP_EQ 1",
        ])
        #expect(ProfileDifference(from: changed, to: base).lines.contains("- openat: SCMP_ACT_ALLOW"))
    }

    @Test func mergeIsTheUnionWithSharedRulesInOneEntry() {
        let other = SeccompProfile.Spec(
            defaultAction: .errno, architectures: [.init(rawValue: "SCMP_ARCH_AARCH64")],
            syscalls: [.init(names: ["openat", "read"], action: .allow), .init(names: ["chdir"], action: .log)])
        let merge = ProfileMerge([base, other])
        #expect(merge.conflicts.isEmpty)
        #expect(merge.merged.defaultAction == .errno)
        #expect(merge.merged.architectures?.map(\.rawValue) == ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"])
        #expect(merge.merged.syscalls == [
            .init(names: ["exit_group", "openat", "read", "write"], action: .allow),
            .init(names: ["mkdir"], action: .errno, errnoRet: 1),
            .init(names: ["chdir"], action: .log),
        ])
        // Merging is idempotent and the result differs from each input only by additions.
        #expect(ProfileMerge([merge.merged, base]).merged == merge.merged)
        #expect(ProfileDifference(from: base, to: merge.merged).lines.allSatisfy { $0.hasPrefix("+") })
    }

    @Test func disagreementsAreReportedAndTheFirstInputWins() {
        let other = SeccompProfile.Spec(defaultAction: .allow, syscalls: [.init(names: ["mkdir"], action: .allow), .init(names: ["read"], action: .allow)])
        let third = SeccompProfile.Spec(defaultAction: .errno, syscalls: [.init(names: ["mkdir"], action: .log)])
        let merge = ProfileMerge([base, other, third])
        #expect(merge.conflicts.map(\.description) == [
            "defaultAction: input 1: SCMP_ACT_ERRNO; input 2: SCMP_ACT_ALLOW; input 3: SCMP_ACT_ERRNO",
            "mkdir: input 1: SCMP_ACT_ERRNO(1); input 2: SCMP_ACT_ALLOW; input 3: SCMP_ACT_LOG",
        ])
        #expect(merge.merged.defaultAction == .errno)
        #expect(merge.merged.rulesByName["mkdir"]?.map(\.description) == ["SCMP_ACT_ERRNO(1)"])
    }
}
