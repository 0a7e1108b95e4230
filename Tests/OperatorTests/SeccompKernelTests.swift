import Foundation
import KubeTestServer
import SPOAPI
import SeccompKit
import Testing

/// Profiles in the installed file format, enforced by the real kernel: the binary's
/// `seccomp-exec` compiles the file with libseccomp, loads it and execs the command.
@Suite struct SeccompKernelTests {
    /// What /bin/true and /bin/mkdir need on this Debian machine (found with a SCMP_ACT_LOG
    /// profile and the kernel's seccomp log), without mkdir and mkdirat.
    static let coreutilsWithoutMkdir = [
        "access", "arch_prctl", "brk", "close", "execve", "exit_group", "fstat", "futex", "getrandom", "ioctl",
        "lseek", "mmap", "mprotect", "munmap", "newfstatat", "openat", "pread64", "prlimit64", "read", "rseq",
        "set_robust_list", "set_tid_address", "statfs", "write",
    ]

    /// Runs `command` under `spec`, written as the daemon writes installed files.
    func run(_ spec: SeccompProfile.Spec, _ command: [String]) async throws -> CommandResult {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("profile-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(ProfileFile.render(spec)).write(to: file)
        return try await runToCompletion(try operatorBinary(), ["seccomp-exec", "--profile", file.path, "--"] + command)
    }

    func scratchDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("mkdir-\(UUID().uuidString)").path
    }

    @Test func aProfileWithoutMkdirDeniesItWithEPERMAndAllowsTheRest() async throws {
        let spec = SeccompProfile.Spec(defaultAction: .errno, syscalls: [.init(names: Self.coreutilsWithoutMkdir, action: .allow)])
        let target = scratchDirectory()
        let denied = try await run(spec, ["/bin/mkdir", target])
        #expect(denied.status == 1)
        #expect(denied.output.contains("Operation not permitted"), "\(denied.output)")
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(try await run(spec, ["/bin/true"]).status == 0)
    }

    @Test func errnoRetIsTheErrorTheCallSees() async throws {
        let spec = SeccompProfile.Spec(defaultAction: .errno, syscalls: [
            .init(names: Self.coreutilsWithoutMkdir, action: .allow),
            .init(names: ["mkdir", "mkdirat"], action: .errno, errnoRet: Int64(EACCES)),
        ])
        let denied = try await run(spec, ["/bin/mkdir", scratchDirectory()])
        #expect(denied.status == 1)
        #expect(denied.output.contains("Permission denied"), "\(denied.output)")
    }

    @Test func logLetsTheCallThrough() async throws {
        let target = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: target) }
        let outcome = try await run(.init(defaultAction: .log), ["/bin/mkdir", target])
        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(FileManager.default.fileExists(atPath: target))
    }

    @Test func anInvalidProfileIsRefusedBeforeTheCommandRuns() async throws {
        let target = scratchDirectory()
        let outcome = try await run(.init(defaultAction: .allow, syscalls: [.init(names: ["mkdirr"], action: .errno)]), ["/bin/mkdir", target])
        #expect(outcome.status != 0)
        #expect(outcome.output.contains("unknown syscall \"mkdirr\""), "\(outcome.output)")
        #expect(!FileManager.default.fileExists(atPath: target), "the command never ran")
    }
}
