import ArgumentParser
import Foundation
import SPOAPI
import SeccompCompiler

#if canImport(Glibc)
import Glibc
#endif

extension SecurityProfilesOperator {
    /// Runs one command under a seccomp profile file, as a container runtime would apply it.
    /// The filter is compiled, loaded into this process and kept across `exec`.
    struct SeccompExec: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "seccomp-exec",
            abstract: "Run a command under a seccomp profile (an installed profile file or a SeccompProfile spec in JSON).")

        @Option(help: "The profile: JSON of a SeccompProfile spec, as installed under <kubelet dir>/seccomp/operator.")
        var profile: String

        @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
        var command: [String]

        func run() throws {
            var command = self.command
            if command.first == "--" { command.removeFirst() }
            guard let executable = command.first else { throw ValidationError("missing the command to run") }
            // Everything that allocates happens before the filter is loaded: afterwards only
            // execve (and, when it fails, write) may run.
            let arguments = command.map { strdup($0) } + [nil]
            let data = try Data(contentsOf: URL(fileURLWithPath: profile))
            let spec: SeccompProfile.Spec
            do {
                spec = try APIDecoder.decode(SeccompProfile.Spec.self, from: data)
            } catch {
                throw ValidationError("\(profile): \(error)")
            }
            do {
                let filter = try SeccompFilter.compile(spec)
                try filter.load()
            } catch {
                throw ValidationError("\(profile): \(error)")
            }
            execvp(executable, arguments)
            // Only reached when exec failed; the filter may be what stopped it.
            let message = "seccomp-exec: cannot run \(executable): \(String(cString: strerror(errno)))\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
            throw ExitCode(127)
        }
    }
}
