import ArgumentParser
import KubeModels
import SPOAPI
import SeccompCompiler
import SeccompKit

extension Spoc {
    /// Schema, base resolution, libseccomp compilation for every listed architecture, and lint.
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check profiles: schema, syscall names per architecture, libseccomp compilation, risky allows.",
            discussion: "Prints one line per problem (FILE: error|warning: ...) and FILE: ok for good files; objects of other kinds are skipped. Exits 1 when any file has an error, or a warning with --strict.")

        @Flag(help: "Treat warnings as errors.")
        var strict = false

        @Argument(help: "Profile files (SeccompProfile YAML, raw seccomp JSON or OCI configuration).")
        var files: [String]

        func run() throws {
            var failed = false
            for file in files {
                let documents: [ProfileDocument]
                do {
                    documents = try ProfileInput.read(file, skippingOtherKinds: true)
                } catch {
                    failed = true
                    continue
                }
                if documents.isEmpty { print("\(file): skipped (no SeccompProfile)") }
                for document in documents {
                    let label = documents.count > 1 ? "\(file) (\(document.name ?? "unnamed"))" : file
                    let outcome = Self.check(document, file: file, siblings: documents)
                    for error in outcome.errors { print("\(label): error: \(error)") }
                    for warning in outcome.warnings { print("\(label): warning: \(warning)") }
                    if outcome.errors.isEmpty, let summary = outcome.summary {
                        print("\(label): ok (\(summary))")
                    }
                    if !outcome.errors.isEmpty || (strict && !outcome.warnings.isEmpty) { failed = true }
                }
            }
            if failed { throw ExitCode(1) }
        }

        struct Outcome {
            var errors: [String] = []
            var warnings: [String] = []
            var summary: String?
        }

        static func check(_ document: ProfileDocument, file: String, siblings: [ProfileDocument]) -> Outcome {
            var outcome = Outcome()
            let object = document.object(defaultName: ProfileInput.defaultName(for: file))
            let problems = object.validate(ValidationContext(syscallNames: LibseccompSyscallNames()))
            outcome.errors += problems.map(\.description)
            guard outcome.errors.isEmpty else { return outcome }
            let resolved: SeccompProfile.Spec
            do {
                resolved = try BaseProfiles.resolve(document.spec, name: object.metadata.name ?? "") {
                    ProfileInput.lookup($0, besides: file, documents: siblings)
                }
            } catch {
                outcome.errors.append(error.description)
                return outcome
            }
            do {
                let filter = try SeccompFilter.compile(resolved)
                let instructions = try filter.bpfInstructionCount()
                let names = resolved.rulesByName.count
                let architectures = (resolved.architectures ?? []).map(\.rawValue)
                outcome.summary = "\(names) syscalls, \(instructions) BPF instructions, "
                    + (architectures.isEmpty ? "native architecture" : architectures.joined(separator: ", "))
            } catch {
                outcome.errors.append(error.description)
            }
            outcome.warnings = ProfileLint.warnings(for: resolved)
            return outcome
        }
    }
}
