import ArgumentParser
import SyscallRecorder

/// `spoc`: seccomp profiles on one machine: run a command under a profile, record one,
/// validate, compare, merge and convert them.
struct Spoc: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spoc",
        abstract: "Run, record, validate, diff, merge and convert seccomp profiles on one machine.",
        discussion: """
            Profiles are read as SeccompProfile objects (YAML or JSON, as applied with kubectl), raw \
            seccomp JSON (what kubelet, runc and docker --security-opt seccomp=... read) or OCI runtime \
            configurations (linux.seccomp). baseProfileName is resolved against the other profiles of \
            the same file, then SeccompProfile files in the same directory, then the built-in runtime \
            bases (runc-v1.0.0, runc-v1.1.12, crun-v1.15).

            Results go to stdout or -o FILE (written whole or not at all); progress and errors to stderr.

            Exit codes: 0 success; 1 invalid input, a failed check or a difference (diff); \
            2 diff could not compare; 64 wrong usage. spoc run returns the command's status, \
            125 when spoc itself fails, 126 when the command cannot be executed, 127 when it is not found.
            """,
        subcommands: [Run.self, Record.self, Validate.self, Diff.self, Merge.self, Convert.self])
}

@main
enum SpocMain {
    /// The hidden first argument that makes this process the exec helper (see ``ExecHelper``).
    static let helperArgument = "__exec-helper"

    static func main() {
        let arguments = CommandLine.arguments
        if arguments.count > 1, arguments[1] == helperArgument {
            ExecHelper.main(Array(arguments.dropFirst(2)))
        }
        Spoc.main()
    }

    /// This binary as the exec helper.
    static var helper: HelperCommand {
        HelperCommand(executable: "/proc/self/exe", arguments: [helperArgument])
    }
}
