import KubeModels
import SPOAPI

/// The AppArmor profile text of an AppArmorProfile: its `policy` as given, or its `abstract`
/// rules translated. Pure; the text is what `apparmor_parser` compiles on the node.
public enum AppArmorProfileText {
    /// The text to compile for `profile`, named like the object (its name is an RFC 1123
    /// subdomain, so it cannot break out of the profile header). Nil when the spec has neither
    /// policy nor abstract; validate first.
    public static func text(for profile: AppArmorProfile) -> String? {
        guard let spec = profile.spec else { return nil }
        if let policy = spec.policy { return policy }
        guard let abstract = spec.abstract else { return nil }
        return render(abstract, name: profile.metadata.name ?? "")
    }

    /// The abstract rules as a profile: `tunables/global` and `abstractions/base` (what
    /// every program needs to start), then one rule per allowed thing, in a fixed order, each
    /// path quoted. Everything not allowed is denied (AppArmor's default inside a profile).
    public static func render(_ abstract: AppArmorProfile.Abstract, name: String) -> String {
        var lines = [
            "#include <tunables/global>",
            "",
            "profile \(name) flags=(attach_disconnected,mediate_deleted) {",
            "  #include <abstractions/base>",
        ]
        func section(_ title: String, _ rules: [String]) {
            guard !rules.isEmpty else { return }
            lines.append("")
            lines.append("  # \(title)")
            lines += rules.map { "  \($0)," }
        }
        func quoted(_ paths: [String]?, _ mode: String) -> [String] {
            // Sorted and de-duplicated, so that the text (and the node's rewrite check) is stable.
            Array(Set(paths ?? [])).sorted().map { "\"\($0)\" \(mode)" }
        }
        section("Executables (run under this profile)", quoted(abstract.executable?.allowedExecutables, "ix"))
        section("Libraries", quoted(abstract.executable?.allowedLibraries, "mr"))
        section("Read-only paths", quoted(abstract.filesystem?.readOnlyPaths, "r"))
        section("Write-only paths", quoted(abstract.filesystem?.writeOnlyPaths, "w"))
        section("Read-write paths", quoted(abstract.filesystem?.readWritePaths, "rw"))

        var network: [String] = []
        if abstract.network?.allowRaw == true { network.append("network raw") }
        if abstract.network?.allowedProtocols?.allowTcp == true { network += ["network inet tcp", "network inet6 tcp"] }
        if abstract.network?.allowedProtocols?.allowUdp == true { network += ["network inet udp", "network inet6 udp"] }
        section("Network", network)
        section("Capabilities", Array(Set(abstract.capability?.allowedCapabilities ?? [])).sorted().map { "capability \($0)" })
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}
