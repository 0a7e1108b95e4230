import ArgumentParser
import Foundation
import SPOAPI
import SeccompKit
import SyscallRecorder

extension Spoc {
    /// Runs a command and writes the minimal allow-list profile for it and its descendants.
    struct Record: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record the syscalls of a command and all its descendants into an allow-list profile.",
            discussion: """
                The eBPF recorder (root, cgroup2) counts syscalls on the sys_enter raw tracepoint for the \
                command's cgroup; the ptrace recorder follows the process tree (slower, no BPF needed). \
                auto uses eBPF and falls back to ptrace. The profile (defaultAction SCMP_ACT_ERRNO, sorted \
                names) is validated before it is written. When the command fails, the profile is still \
                written and spoc exits with the command's status.
                """)

        enum RecorderChoice: String, ExpressibleByArgument, CaseIterable {
            case auto, ebpf, ptrace
        }

        @Option(name: .shortAndLong, help: "Where to write the profile.")
        var output: String

        @Option(help: "Output format: crd (SeccompProfile YAML), json (raw seccomp) or oci.")
        var format: ProfileDocument.Format = .crd

        @Option(help: "The SeccompProfile's name (default: the output file's name).")
        var name: String?

        @Option(help: "The SeccompProfile's namespace.")
        var namespace: String?

        @Option(help: "Which recorder to use: auto, ebpf or ptrace.")
        var recorder: RecorderChoice = .auto

        @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
        var command: [String]

        func run() throws {
            var command = self.command
            if command.first == "--" { command.removeFirst() }
            guard !command.isEmpty else { throw ValidationError("missing the command to record") }
            do {
                _ = try ExecutableLookup.resolve(command[0])
            } catch {
                throw fail(error.description, status: 127)
            }

            let recording = try Self.record(command, with: recorder)
            let (byArchitecture, unknown) = recording.names()
            if !unknown.isEmpty { note("syscall numbers libseccomp cannot name, left out: " + unknown.joined(separator: ", ")) }
            let specific = recording.architectureSpecificNames()
            if !specific.isEmpty {
                let list = specific.keys.sorted().map { "\($0): \(specific[$0]!.joined(separator: ", "))" }.joined(separator: "; ")
                throw fail("the command made syscalls on \(byArchitecture.keys.sorted().joined(separator: " and ")) that do not exist on all of them (\(list)); a SeccompProfile has one list of names for all its architectures, so no profile was written")
            }
            let spec = recording.profile()
            guard spec.syscalls?.isEmpty == false else { throw fail("the recorder saw no syscalls; no profile was written") }
            try compileCheck(spec, "the recorded profile")
            let text = ProfileDocument.render(spec, as: format, name: name ?? ProfileInput.defaultName(for: output), namespace: namespace)
            try writeOutput(text, to: output)
            let summary = byArchitecture.keys.sorted().map { "\(byArchitecture[$0]!.count) on \($0)" }.joined(separator: ", ")
            note("wrote \(output): \(spec.rulesByName.count) syscalls (\(summary))")
            if recording.exitStatus != 0 {
                note("the command exited with status \(recording.exitStatus); the profile may be incomplete")
                throw ExitCode(recording.exitStatus)
            }
        }

        static func record(_ command: [String], with choice: RecorderChoice) throws(ExitCode) -> Recording {
            let recorders: [any SyscallRecorder] = switch choice {
            case .auto: [BPFRecorder(), PtraceRecorder()]
            case .ebpf: [BPFRecorder()]
            case .ptrace: [PtraceRecorder()]
            }
            for (index, recorder) in recorders.enumerated() {
                note("recording \(command.joined(separator: " ")) with \(recorder.name)")
                do {
                    return try recorder.record(command, helper: SpocMain.helper)
                } catch {
                    let hint = getuid() == 0 ? "" : " (not running as root)"
                    if error.kind == .unavailable, index + 1 < recorders.count {
                        note("\(error)\(hint); falling back to \(recorders[index + 1].name)")
                        continue
                    }
                    throw fail(error.kind == .unavailable ? "\(error)\(hint)" : error.description,
                               status: error.kind == .commandNotFound ? 127 : 1)
                }
            }
            throw fail("no recorder available")
        }
    }
}
