import ArgumentParser
import Foundation
import SeccompKit

extension Spoc {
    /// What differs between two profiles, after their bases are resolved.
    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show how two profiles differ: default action, architectures, flags, syscalls and their rules.",
            discussion: "Lines start with + (only in B), - (only in A) or ~ (changed). Exits 0 when the profiles are the same, 1 when they differ, 2 when they cannot be compared.")

        @Flag(help: "Print the difference as JSON.")
        var json = false

        @Option(help: "The profile to use from files with several.")
        var select: String?

        @Argument(help: "The first profile.")
        var first: String

        @Argument(help: "The second profile.")
        var second: String

        func run() throws {
            let a: LoadedProfile, b: LoadedProfile
            do {
                a = try ProfileInput.load(first, select: select)
                b = try ProfileInput.load(second, select: select)
            } catch {
                throw ExitCode(2)
            }
            let difference = ProfileDifference(from: a.resolved, to: b.resolved)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                // The difference is plain strings and numbers; encoding cannot fail.
                print(String(decoding: try! encoder.encode(difference), as: UTF8.self))
            } else {
                for line in difference.lines { print(line) }
            }
            if !difference.isEmpty { throw ExitCode(1) }
        }
    }
}
