import SPOAPI
import SeccompCompiler

/// What a recorder saw: the command's exit status and, per architecture, the syscall numbers
/// the command and its descendants made, with how often.
public struct Recording: Sendable, Hashable {
    /// The exit status like a shell reports it: the exit code, or 128 + the signal.
    public var exitStatus: Int32
    /// Calls per syscall number, per audit architecture (`AUDIT_ARCH_*`, which are also
    /// libseccomp's architecture tokens).
    public var calls: [UInt32: [Int32: UInt64]]

    public init(exitStatus: Int32, calls: [UInt32: [Int32: UInt64]]) {
        self.exitStatus = exitStatus
        self.calls = calls
    }

    /// Syscall names per architecture name (`SCMP_ARCH_X86_64`), and the numbers libseccomp
    /// has no name for.
    public func names() -> (byArchitecture: [String: [String]], unknown: [String]) {
        var table = SyscallNameTable()
        var byArchitecture: [String: [String]] = [:]
        var unknown: [String] = []
        for (arch, numbers) in calls {
            let archName = Architectures.name(of: arch) ?? "0x" + String(arch, radix: 16)
            var names = Set<String>()
            for number in numbers.keys {
                if let name = table.name(of: number, arch: arch) {
                    names.insert(name)
                } else {
                    unknown.append("\(archName) #\(number)")
                }
            }
            byArchitecture[archName] = names.sorted()
        }
        return (byArchitecture, unknown.sorted())
    }

    /// Recorded names that do not exist on some other recorded architecture (e.g. x86's
    /// `ugetrlimit` when a 64-bit process ran a 32-bit one), by the architecture they were
    /// made on. A SeccompProfile lists one set of names for all its architectures, and every
    /// name must exist on each, so such a recording has no valid profile.
    public func architectureSpecificNames() -> [String: [String]] {
        guard calls.count > 1 else { return [:] }
        var table = SyscallNameTable()
        var specific: [String: [String]] = [:]
        for (arch, numbers) in calls {
            let names = Set(numbers.keys.compactMap { table.name(of: $0, arch: arch) })
            let missing = names.filter { name in calls.keys.contains { !SeccompFilter.syscallExists(name, architecture: $0) } }
            if !missing.isEmpty { specific[Architectures.name(of: arch) ?? "0x" + String(arch, radix: 16)] = missing.sorted() }
        }
        return specific
    }

    /// The minimal allow-list: everything recorded is allowed, anything else fails with
    /// `EPERM` (what upstream's recorder writes). Names are sorted; architectures too.
    public func profile() -> SeccompProfile.Spec {
        let (byArchitecture, _) = names()
        let allNames = Set(byArchitecture.values.joined()).sorted()
        return SeccompProfile.Spec(
            defaultAction: .errno,
            architectures: byArchitecture.keys.sorted().map { SeccompArchitecture(rawValue: $0) },
            syscalls: allNames.isEmpty ? nil : [.init(names: allNames, action: .allow)])
    }
}

/// Audit architecture tokens and their seccomp profile names.
public enum Architectures {
    static let names: [UInt32: String] = [
        0xC000_003E: "SCMP_ARCH_X86_64",
        0x4000_0003: "SCMP_ARCH_X86",
        0xC000_00B7: "SCMP_ARCH_AARCH64",
        0x4000_0028: "SCMP_ARCH_ARM",
        0xC000_0015: "SCMP_ARCH_PPC64LE",
        0x8000_0016: "SCMP_ARCH_S390X",
        0xC000_00F3: "SCMP_ARCH_RISCV64",
    ]

    /// `x86_64`'s 32-bit compatibility architecture.
    static let x86: UInt32 = 0x4000_0003
    static let x86_64: UInt32 = 0xC000_003E

    /// `SCMP_ARCH_X86_64` for `0xc000003e`, nil for architectures a profile cannot name.
    public static func name(of token: UInt32) -> String? { names[token] }
}
