import ArgumentParser
import SeccompKit

extension Spoc {
    /// The union of several profiles' allow-lists.
    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge profiles: every syscall any of them names; where they disagree the first input wins and the conflict is reported.",
            discussion: "Conflicts are printed on stderr. With --strict a conflict fails the merge (exit 1) and nothing is written.")

        @Option(name: .shortAndLong, help: "Where to write the merged profile (default: stdout).")
        var output: String?

        @Option(help: "Output format: crd, json or oci (default: the first input's).")
        var format: ProfileDocument.Format?

        @Option(help: "The name of the merged SeccompProfile (crd output).")
        var name: String?

        @Option(help: "The namespace of the merged SeccompProfile (crd output).")
        var namespace: String?

        @Flag(help: "Fail on conflicts.")
        var strict = false

        @Argument(help: "Two or more profiles.")
        var inputs: [String]

        func validate() throws {
            guard inputs.count >= 2 else { throw ValidationError("merge needs at least two profiles") }
        }

        func run() throws {
            let profiles = try inputs.map { path throws(ExitCode) in try ProfileInput.load(path) }
            let merge = ProfileMerge(profiles.map(\.resolved))
            for conflict in merge.conflicts { note("conflict: \(conflict)") }
            if strict, !merge.conflicts.isEmpty {
                throw fail("\(merge.conflicts.count) conflicts; nothing written")
            }
            try compileCheck(merge.merged, "the merged profile")
            let outputName = name ?? output.map(ProfileInput.defaultName(for:)) ?? "merged"
            let text = ProfileDocument.render(merge.merged, as: format ?? profiles[0].document.format, name: outputName, namespace: namespace)
            try writeOutput(text, to: output)
        }
    }
}
