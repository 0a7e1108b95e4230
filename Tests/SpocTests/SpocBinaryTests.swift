import Foundation
import KubeTestServer
import SPOAPI
import SeccompKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The spoc binary end to end, against this machine's kernel: recording with eBPF and
/// ptrace, running under the recorded profiles, and the file commands' output and errors.
@Suite(.serialized)
final class SpocBinaryTests {
    let spoc: String
    /// This test's scratch directory, removed when the test ends.
    let directory: URL

    init() throws {
        spoc = try builtProduct("spoc").path
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("spoc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func spoc(_ arguments: String...) async throws -> ChildProcess.Result {
        try await ChildProcess.run(spoc, arguments, environment: ["PATH": "/usr/bin:/bin", "LC_ALL": "C"])
    }

    func write(_ name: String, _ text: String) throws -> String {
        try text.write(toFile: path(name), atomically: true, encoding: .utf8)
        return path(name)
    }

    func read(_ name: String) throws -> String { try String(contentsOfFile: path(name), encoding: .utf8) }

    /// The syscall names of a profile file spoc wrote.
    func names(_ name: String) throws -> Set<String> {
        let documents = try ProfileDocument.read(Data(contentsOf: URL(fileURLWithPath: path(name))))
        return Set(documents[0].spec.rulesByName.keys)
    }

    /// A copy of a recorded profile without some syscalls.
    func without(_ removed: Set<String>, adding added: [String] = [], from source: String, to target: String) throws -> String {
        var spec = try ProfileDocument.read(Data(contentsOf: URL(fileURLWithPath: path(source))))[0].spec
        spec.syscalls = spec.syscalls?.map { rule in
            var rule = rule
            rule.names = rule.names?.filter { !removed.contains($0) }
            return rule
        }
        if !added.isEmpty { spec.syscalls?.append(.init(names: added, action: .allow)) }
        return try write(target, ProfileDocument.render(spec, as: .crd, name: "reduced"))
    }

    @Test func aRecordedProfileRunsTheCommandAndWithoutGetdentsLsFails() async throws {
        let recorded = try await spoc("record", "-o", path("ls.yaml"), "--", "/bin/ls", "/")
        #expect(recorded.status == 0, "\(recorded.output)")
        #expect(recorded.output.contains("wrote \(path("ls.yaml")):"))
        let profile = try read("ls.yaml")
        #expect(profile.hasPrefix("apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  name: ls\nspec:\n  defaultAction: SCMP_ACT_ERRNO\n  architectures:\n  - SCMP_ARCH_X86_64\n"))
        let names = try self.names("ls.yaml")
        #expect(names.isSuperset(of: ["execve", "getdents64", "openat", "exit_group", "write"]))
        // Deterministic: sorted names, one allow rule.
        let spec = try ProfileDocument.read(Data(profile.utf8))[0].spec
        #expect(spec.syscalls?.count == 1 && spec.syscalls?[0].names == spec.syscalls?[0].names?.sorted())

        let run = try await spoc("run", "-p", path("ls.yaml"), "--", "/bin/ls", "/")
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("proc\n"))

        let reduced = try without(["getdents64"], from: "ls.yaml", to: "no-getdents.yaml")
        let denied = try await spoc("run", "-p", reduced, "--", "/bin/ls", "/")
        #expect(denied.status != 0)
        #expect(denied.output.contains("Operation not permitted"), "\(denied.output)")
    }

    @Test func aProfileWithoutMkdiratBlocksMkdirWithEPERM() async throws {
        let recorded = try await spoc("record", "--format", "json", "-o", path("mkdir.json"), "--", "mkdir", path("first"))
        #expect(recorded.status == 0, "\(recorded.output)")
        #expect(try names("mkdir.json").contains("mkdir"))
        // A successful mkdir writes nothing, so the recording has no write: add it for the error message.
        let reduced = try without(["mkdir", "mkdirat"], adding: ["write"], from: "mkdir.json", to: "no-mkdir.yaml")
        let denied = try await spoc("run", "-p", reduced, "--", "mkdir", path("second"))
        #expect(denied.status == 1)
        #expect(denied.output.contains("cannot create directory") && denied.output.contains("Operation not permitted"), "\(denied.output)")
        #expect(!FileManager.default.fileExists(atPath: path("second")))
        let allowed = try await spoc("run", "-p", path("mkdir.json"), "--", "mkdir", path("third"))
        #expect(allowed.status == 0, "\(allowed.output)")
        #expect(FileManager.default.fileExists(atPath: path("third")))
    }

    @Test(arguments: ["ebpf", "ptrace"])
    func recordingFollowsChildren(recorder: String) async throws {
        let output = "children-\(recorder).yaml"
        let script = "ls \(directory.path) >/dev/null; mkdir \(path("child-\(recorder)"))"
        let recorded = try await spoc("record", "--recorder", recorder, "-o", path(output), "--", "sh", "-c", script)
        #expect(recorded.status == 0, "\(recorded.output)")
        #expect(recorded.output.contains("with \(recorder)"))
        // getdents64 only ls makes, mkdir only mkdir makes; each is a child of sh.
        #expect(try names(output).isSuperset(of: ["getdents64", "mkdir", "wait4"]))
    }

    @Test func bothRecordersSeeTheSameSyscallsOfADeterministicProgram() async throws {
        for recorder in ["ebpf", "ptrace"] {
            let result = try await spoc("record", "--recorder", recorder, "-o", path("true-\(recorder).json"), "--format", "json", "--", "/bin/true")
            #expect(result.status == 0, "\(result.output)")
        }
        let ebpf = try names("true-ebpf.json"), ptrace = try names("true-ptrace.json")
        #expect(ebpf == ptrace)
        #expect(ebpf.contains("execve") && ebpf.contains("exit_group"))
        let diff = try await spoc("diff", path("true-ebpf.json"), path("true-ptrace.json"))
        #expect(diff.status == 0 && diff.output.isEmpty, "\(diff.output)")
    }

    @Test func bothRecordersTellA32BitProgramsCallsApart() async throws {
        // make test installs gcc-multilib; the program is built here, never committed.
        let source = try write("c32.c", "#include <unistd.h>\n#include <stdio.h>\nint main(void) { printf(\"%d\\n\", getppid() > 0); return 0; }\n")
        let compiled = try await ChildProcess.run("/usr/bin/gcc", ["-m32", "-static", "-O2", source, "-o", path("c32")])
        try #require(compiled.status == 0, "gcc -m32 (gcc-multilib): \(compiled.output)")
        for recorder in ["ebpf", "ptrace"] {
            let result = try await spoc("record", "--recorder", recorder, "-o", path("c32-\(recorder).json"), "--", path("c32"))
            #expect(result.status == 1, "\(result.output)")
            // execve was made on x86_64 (by the helper), the rest on x86, which has names x86_64 lacks.
            #expect(result.output.contains("spoc: the command made syscalls on SCMP_ARCH_X86 and SCMP_ARCH_X86_64 that do not exist on all of them (SCMP_ARCH_X86: ugetrlimit)"), "\(recorder): \(result.output)")
            #expect(!FileManager.default.fileExists(atPath: path("c32-\(recorder).json")))
        }
    }

    @Test func aProfileThatDeniesExecveIsRefusedBeforeAnythingStarts() async throws {
        let profile = try write("no-exec.json", #"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}"#)
        let result = try await spoc("run", "-p", profile, "--", "/bin/true")
        #expect(result.status == 125)
        #expect(result.output == "spoc: \(profile): the profile denies execve (default action SCMP_ACT_ERRNO), so no command can start under it; allow execve\n")
        // Allowed execve but nothing else: the command dies, spoc reports it and does not hang.
        let onlyExec = try write("only-exec.json", #"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["execve"],"action":"SCMP_ACT_ALLOW"}]}"#)
        let killed = try await spoc("run", "-p", onlyExec, "--", "/bin/true")
        #expect(killed.status > 128, "\(killed.output)")
        #expect(killed.output.contains("spoc: the command was killed by signal"))
    }

    @Test func asAnotherUserEBPFSaysWhyAndAutoFallsBackToPtrace() async throws {
        // A copy the unprivileged user can execute (the build directory may be private).
        let copy = path("spoc-copy")
        try FileManager.default.copyItem(atPath: spoc, toPath: copy)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        let outputs = path("out")
        try FileManager.default.createDirectory(atPath: outputs, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        func asNobody(_ arguments: [String]) async throws -> ChildProcess.Result {
            // A child another test spawned while the copy was being written may still hold it
            // open for writing for a moment: exec then fails with ETXTBSY, so try again.
            for _ in 0..<50 {
                let result = try await ChildProcess.run(
                    "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", copy] + arguments, environment: ["PATH": "/usr/bin:/bin"])
                guard result.status == 126, result.output.contains("Text file busy") else { return result }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("\(copy) stayed busy (ETXTBSY) for 5 s")
            return ChildProcess.Result(status: 126, output: "")
        }
        let ebpf = try await asNobody(["record", "--recorder", "ebpf", "-o", "\(outputs)/ebpf.json", "--", "/bin/true"])
        #expect(ebpf.status == 1)
        #expect(ebpf.output.contains("spoc: eBPF recorder: ") && ebpf.output.contains("(not running as root)"), "\(ebpf.output)")
        let auto = try await asNobody(["record", "-o", "\(outputs)/auto.json", "--", "/bin/true"])
        #expect(auto.status == 0, "\(auto.output)")
        #expect(auto.output.contains("(not running as root); falling back to ptrace\nspoc: recording /bin/true with ptrace\n"), "\(auto.output)")
        let profile = "\(outputs)/log-no-mkdir.json"
        try #"{"defaultAction":"SCMP_ACT_LOG","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#.write(toFile: profile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: profile)
        let logging = try await asNobody(["run", "-p", profile, "--", "mkdir", "\(outputs)/x"])
        #expect(logging.status == 1)
        #expect(logging.output.contains("spoc: cannot read /dev/kmsg (Operation not permitted): logged syscalls will not be listed"), "\(logging.output)")
        #expect(logging.output.contains("Operation not permitted"))
    }

    @Test func runReturnsTheCommandsStatusAndListsWhatTheProfileLogged() async throws {
        let exit = try await spoc("run", "-p", repositoryRoot.appendingPathComponent("examples/seccompprofile-no-mkdir.yaml").path, "--", "sh", "-c", "exit 7")
        #expect(exit.status == 7, "\(exit.output)")
        let logging = try write("log.yaml", """
            kind: SeccompProfile
            metadata: {name: log-mkdir}
            spec:
              defaultAction: SCMP_ACT_ALLOW
              syscalls:
              - {action: SCMP_ACT_LOG, names: [mkdir, mkdirat]}
              - {action: SCMP_ACT_ERRNO, names: [kexec_load]}
            """)
        // mkdir runs as a grandchild and is gone long before spoc lists the records. The kernel
        // prints every record only while its rate limit is off (other tests flood the log).
        let run = try await withoutPrintkRateLimit { try await spoc("run", "-p", logging, "--", "sh", "-c", "mkdir \(path("logged")); true") }
        #expect(run.status == 0, "\(run.output)")
        #expect(!run.output.contains("may be incomplete"), "\(run.output)")
        #expect(FileManager.default.fileExists(atPath: path("logged")))
        #expect(run.output.contains("spoc: syscalls the profile logged or denied (1):\nspoc:   mkdir: 1× by /usr/bin/mkdir"), "\(run.output)")
    }

    /// With the kernel's rate limit at 3 records per 2 s, a command whose every syscall logs
    /// loses most of its records: spoc says how many (serial gaps, the kernel's notice), or that
    /// some may be lost when nothing it saw tells the number, and `--strict` exits 125.
    @Test(.enabled(if: getuid() == 0, "needs root to read /dev/kmsg"))
    func runSaysWhenTheKernelDroppedRecords() async throws {
        let profile = try write("log-all.json", #"{"defaultAction":"SCMP_ACT_LOG"}"#)
        try await withPrintkRateLimit(intervalSeconds: 2, burst: 3) {
            // Two bursts in two windows: the second window prints the notice and a few records
            // whose serials show the gap.
            let counted = try await spoc("run", "-p", profile, "--", "sh", "-c", "mkdir \(path("a")); sleep 2.5; mkdir \(path("b"))")
            #expect(counted.status == 0, "\(counted.output)")
            #expect(counted.output.contains("spoc: the kernel dropped "), "\(counted.output)")
            #expect(counted.output.contains(" audit records while the command ran: the list above may be incomplete (without auditd it prints at most 3 per 2 s: kernel.printk_ratelimit_burst, kernel.printk_ratelimit)"), "\(counted.output)")
            #expect(counted.output.contains("spoc: to keep every record: sysctl -w kernel.printk_ratelimit=0"), "\(counted.output)")
            // Right after, the window is still used up: nothing of this run is printed.
            let strict = try await spoc("run", "--strict", "-p", profile, "--", "mkdir", path("c"))
            #expect(strict.status == 125, "\(strict.output)")
            #expect(strict.output.contains("was used up while the command ran, so it may have dropped records"), "\(strict.output)")
            #expect(strict.output.contains("spoc: --strict: the list may be incomplete; the command's status was 0"), "\(strict.output)")
        }
    }

    @Test func validateReportsErrorsAndWarningsAndStrictFailsOnWarnings() async throws {
        let good = try write("good.yaml", "kind: SeccompProfile\nmetadata: {name: good}\nspec: {defaultAction: SCMP_ACT_ERRNO, baseProfileName: crun-v1.15, syscalls: [{action: SCMP_ACT_ALLOW, names: [read]}]}\n")
        let risky = try write("risky.json", #"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","bpf"],"action":"SCMP_ACT_ALLOW"}]}"#)
        let unknown = try write("unknown.json", #"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_AARCH64"],"syscalls":[{"names":["open"],"action":"SCMP_ACT_ALLOW"}]}"#)
        let result = try await spoc("validate", good, risky)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("\(good): ok (17 syscalls, "), "\(result.output)")
        #expect(result.output.contains("\(risky): warning: bpf is allowed: it loads programs into the kernel\n"
            + "\(risky): warning: defaultAction SCMP_ACT_ERRNO denies what a container runtime calls after loading the filter, so no container can start under this profile: runc needs capget, "), "\(result.output)")
        #expect(result.output.contains("; allow them or set baseProfileName: runc-v1.1.12 or crun-v1.15\n\(risky): ok (2 syscalls"), "\(result.output)")
        let strict = try await spoc("validate", "--strict", good, risky)
        #expect(strict.status == 1)
        let bad = try await spoc("validate", unknown)
        #expect(bad.status == 1)
        #expect(bad.output.hasPrefix("\(unknown): error: spec.syscalls[0].names[0]: unknown syscall \"open\" on SCMP_ARCH_AARCH64\n\(unknown): warning: defaultAction SCMP_ACT_ERRNO denies what a container runtime calls"), "\(bad.output)")
    }

    @Test func diffShowsChangesForHumansAndAsJSON() async throws {
        let a = try write("a.json", #"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write","close"],"action":"SCMP_ACT_ALLOW"}]}"#)
        let b = try write("b.yaml", "kind: SeccompProfile\nmetadata: {name: b}\nspec:\n  defaultAction: SCMP_ACT_LOG\n  architectures: [SCMP_ARCH_X86_64]\n  syscalls:\n  - {action: SCMP_ACT_ALLOW, names: [read, openat]}\n  - {action: SCMP_ACT_ERRNO, errnoRet: 38, names: [write]}\n")
        let human = try await spoc("diff", a, b)
        #expect(human.status == 1)
        #expect(human.output == """
            ~ defaultAction: SCMP_ACT_ERRNO -> SCMP_ACT_LOG
            + architecture SCMP_ARCH_X86_64
            - close: SCMP_ACT_ALLOW
            + openat: SCMP_ACT_ALLOW
            ~ write: SCMP_ACT_ALLOW -> SCMP_ACT_ERRNO(38)

            """)
        let json = try await spoc("diff", "--json", a, b)
        #expect(json.status == 1)
        let decoded = try JSONDecoder().decode(ProfileDifference.self, from: Data(json.output.utf8))
        #expect(decoded.defaultAction == ["SCMP_ACT_ERRNO", "SCMP_ACT_LOG"])
        #expect(decoded.syscalls.map(\.name) == ["close", "openat", "write"])
        let same = try await spoc("diff", a, a)
        #expect(same.status == 0 && same.output.isEmpty)
        let missing = try await spoc("diff", a, path("nope.json"))
        #expect(missing.status == 2)
        #expect(missing.output.hasPrefix("spoc: \(path("nope.json")): cannot read: No such file or directory\n"))
    }

    @Test func mergeUnitesAllowListsAndReportsConflicts() async throws {
        let a = try write("ma.json", #"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}"#)
        let b = try write("mb.json", #"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","close"],"action":"SCMP_ACT_ALLOW"},{"names":["write"],"action":"SCMP_ACT_LOG"}]}"#)
        let merged = try await spoc("merge", a, b, "-o", path("merged.json"))
        #expect(merged.status == 0)
        #expect(merged.output == "spoc: conflict: write: input 1: SCMP_ACT_ALLOW; input 2: SCMP_ACT_LOG\n")
        #expect(try read("merged.json") == #"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["close","read","write"],"action":"SCMP_ACT_ALLOW"}]}"# + "\n")
        let strict = try await spoc("merge", "--strict", a, b, "-o", path("strict.json"))
        #expect(strict.status == 1)
        #expect(!FileManager.default.fileExists(atPath: path("strict.json")))
    }

    @Test func convertGoesBetweenAllThreeFormatsAndResolvesBasesForRuntimes() async throws {
        let crd = try write("app.yaml", "kind: SeccompProfile\nmetadata: {name: app, namespace: shop}\nspec:\n  defaultAction: SCMP_ACT_ERRNO\n  baseProfileName: base\n  syscalls: [{action: SCMP_ACT_ALLOW, names: [read]}]\n")
        _ = try write("base.yaml", "kind: SeccompProfile\nmetadata: {name: base}\nspec:\n  defaultAction: SCMP_ACT_ERRNO\n  syscalls: [{action: SCMP_ACT_ALLOW, names: [exit_group]}]\n")
        let json = try await spoc("convert", "--to", "json", crd, "-o", path("app.json"))
        #expect(json.status == 0, "\(json.output)")
        #expect(try read("app.json") == #"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["exit_group"],"action":"SCMP_ACT_ALLOW"},{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"# + "\n")
        let oci = try await spoc("convert", "--to", "oci", path("app.json"), "-o", path("app-oci.json"))
        #expect(oci.status == 0)
        #expect(try read("app-oci.json") == #"{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["exit_group"],"action":"SCMP_ACT_ALLOW"},{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}}}"# + "\n")
        let back = try await spoc("convert", "--to", "crd", "--name", "again", path("app-oci.json"), "-o", path("again.yaml"))
        #expect(back.status == 0)
        #expect(try read("again.yaml") == """
            apiVersion: security-profiles-operator.x-k8s.io/v1beta1
            kind: SeccompProfile
            metadata:
              name: again
            spec:
              defaultAction: SCMP_ACT_ERRNO
              syscalls:
              - names:
                - exit_group
                action: SCMP_ACT_ALLOW
              - names:
                - read
                action: SCMP_ACT_ALLOW

            """)
        // A SeccompProfile stays a SeccompProfile: its base reference is kept.
        let kept = try await spoc("convert", "--to", "crd", crd)
        #expect(kept.output.contains("  baseProfileName: base\n") && kept.output.contains("  namespace: shop\n"))
    }

    @Test func badInputFailsWithOneLineAndWritesNothing() async throws {
        let malformed = try write("malformed.yaml", "kind: SeccompProfile\nspec: [unclosed\n")
        let unknown = try write("unknown.yaml", "kind: SeccompProfile\nmetadata: {name: u}\nspec: {defaultAction: SCMP_ACT_ERRNO, syscalls: [{action: SCMP_ACT_ALLOW, names: [no_such_call]}]}\n")
        let cases: [(arguments: [String], status: Int32, message: String)] = [
            (["convert", "--to", "json", path("missing.yaml"), "-o", path("out.json")], 1, "spoc: \(path("missing.yaml")): cannot read: No such file or directory"),
            (["convert", "--to", "json", malformed, "-o", path("out.json")], 1, "spoc: \(malformed): not YAML or JSON: "),
            (["convert", "--to", "json", unknown, "-o", path("out.json")], 1, "spoc: \(unknown): spec.syscalls[0].names[0]: unknown syscall \"no_such_call\" on the native architecture"),
            (["run", "-p", unknown, "--", "/bin/true"], 125, "spoc: \(unknown): spec.syscalls[0].names[0]: unknown syscall"),
            (["run", "-p", path("missing.yaml"), "--", "/bin/true"], 125, "spoc: \(path("missing.yaml")): cannot read"),
            (["run", "-p", repositoryRoot.appendingPathComponent("examples/seccompprofile.yaml").path, "--", "no-such-command"], 127, "spoc: command not found: no-such-command"),
            (["record", "-o", path("out.json"), "--", "no-such-command"], 127, "spoc: command not found: no-such-command"),
            (["record", "--recorder", "ptrace", "-o", path("out.json"), "--", "/nonexistent/tool"], 127, "spoc: cannot run /nonexistent/tool: No such file or directory"),
        ]
        for (arguments, status, message) in cases {
            let result = try await ChildProcess.run(spoc, arguments, environment: ["PATH": "/usr/bin:/bin"])
            #expect(result.status == status, "\(arguments): \(result.output)")
            #expect(result.output.hasPrefix(message), "\(arguments): \(result.output)")
            #expect(result.output.split(separator: "\n").count(where: { $0.hasPrefix("spoc: ") && !$0.hasPrefix("spoc: recording") }) == 1, "\(arguments): \(result.output)")
        }
        #expect(!FileManager.default.fileExists(atPath: path("out.json")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".tmp") } == [])
    }
}
