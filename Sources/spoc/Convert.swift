import ArgumentParser
import SeccompKit

extension Spoc {
    /// Between SeccompProfile YAML, raw seccomp JSON and an OCI configuration's linux.seccomp.
    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a profile between SeccompProfile YAML (crd), raw seccomp JSON (json) and OCI linux.seccomp (oci).",
            discussion: """
                json and oci output have baseProfileName resolved (runtimes do not know bases). oci output is \
                {"linux":{"seccomp":{...}}}, to merge into a config.json; oci input may be a whole config.json.
                """)

        @Option(help: "Output format: crd, json or oci.")
        var to: ProfileDocument.Format

        @Option(name: .shortAndLong, help: "Where to write the result (default: stdout).")
        var output: String?

        @Option(help: "The SeccompProfile's name (crd output; default: the input's name or file name).")
        var name: String?

        @Option(help: "The SeccompProfile's namespace (crd output).")
        var namespace: String?

        @Option(help: "The profile to use from a file with several.")
        var select: String?

        @Argument(help: "The profile to convert.")
        var input: String

        func run() throws {
            let profile = try ProfileInput.load(input, select: select)
            // A SeccompProfile keeps its base reference; runtime formats get it resolved.
            let spec = to == .crd ? profile.document.spec : profile.resolved
            try compileCheck(profile.resolved, input)
            let text = ProfileDocument.render(spec, as: to, name: name ?? profile.name, namespace: namespace ?? profile.document.namespace)
            try writeOutput(text, to: output)
        }
    }
}
