import KubeModels
import SPOAPI

/// An SELinux profile turned into the CIL module the node installs (reference §3.9): module
/// `<name>_<namespace>`, process type `<name>_<namespace>.process`. Pure.
public enum SelinuxPolicy {
    /// Why a profile cannot become a module on this node, with the place at fault.
    public struct Problem: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// The module (and CIL block) name: `<name>_<namespace>`.
    public static func moduleName(name: String, namespace: String) -> String { "\(name)_\(namespace)" }

    /// What pods put in `seLinuxOptions.type`.
    public static func usage(name: String, namespace: String) -> String { moduleName(name: name, namespace: namespace) + ".process" }

    /// The parent system policy every container profile builds on.
    static let containerBase = "container"

    /// The CIL of a SelinuxProfile. `allowedSystemProfiles` is the spod's list (System
    /// inherits must be in it); `profileExists` says whether a SelinuxProfile of the same
    /// namespace exists (SelinuxProfile inherits must).
    public static func cil(
        for profile: SelinuxProfile, allowedSystemProfiles: [String], profileExists: (String) -> Bool
    ) throws(Problem) -> String {
        let name = profile.metadata.name ?? "", namespace = profile.metadata.namespace ?? ""
        try checkBlockName(name: name, namespace: namespace)
        let spec = profile.spec ?? SelinuxProfile.Spec()
        let inherits = spec.inherit ?? [SelinuxProfile.PolicyRef(kind: .system, name: containerBase)]

        var parents: [String] = []
        for (index, reference) in inherits.enumerated() {
            let parent = reference.name ?? ""
            let field = "spec.inherit[\(index)]"
            try checkIdentifier(parent, field: "\(field).name")
            switch reference.kind ?? .system {
            case .system:
                guard allowedSystemProfiles.contains(parent) else {
                    throw Problem("\(field): system profile \(parent) not in SecurityProfilesOperatorDaemon's allow list")
                }
            case .selinuxProfile:
                guard parent != name else { throw Problem("\(field): a profile cannot inherit from itself") }
                guard profileExists(parent) else { throw Problem("\(field): SelinuxProfile \(parent) not found in namespace \(namespace)") }
            default:
                throw Problem("\(field).kind: unsupported kind \(reference.kind?.rawValue ?? "")")
            }
        }
        let profileParents = inherits.filter { $0.kind == .selinuxProfile }.compactMap(\.name)
        if profileParents.isEmpty {
            parents.append(containerBase)
        }
        for reference in inherits where (reference.kind ?? .system) == .system && reference.name != containerBase {
            parents.append(reference.name ?? "")
        }
        parents += profileParents.map { moduleName(name: $0, namespace: namespace) }

        var statements = parents.map { "(blockinherit \($0))" }
        if spec.permissive == true { statements.append("(typepermissive process)") }
        let ownType = usage(name: name, namespace: namespace)
        for label in (spec.allow ?? [:]).keys.sorted() {
            if label != "@self" { try checkIdentifier(label, field: "spec.allow[\(label)]") }
            let classes = spec.allow?[label] ?? [:]
            for objectClass in classes.keys.sorted() {
                try checkIdentifier(objectClass, field: "spec.allow[\(label)][\(objectClass)]")
                let permissions = Array(Set(classes[objectClass] ?? [])).sorted()
                guard !permissions.isEmpty else { throw Problem("spec.allow[\(label)][\(objectClass)]: no permissions") }
                for permission in permissions {
                    try checkIdentifier(permission, field: "spec.allow[\(label)][\(objectClass)]")
                }
                let target = label == "@self" ? ownType : label
                statements.append("(allow process \(target) (\(objectClass) (\(permissions.joined(separator: " ")))))")
            }
        }
        return block(moduleName(name: name, namespace: namespace), body: statements.joined(separator: "\n"))
    }

    /// The CIL of a RawSelinuxProfile: the user's policy, trimmed and indented, inside the
    /// block. Unlike upstream nothing is HTML-escaped; parentheses must balance, so that the
    /// policy cannot close the block and add statements outside it.
    public static func cil(for profile: RawSelinuxProfile) throws(Problem) -> String {
        let name = profile.metadata.name ?? "", namespace = profile.metadata.namespace ?? ""
        try checkBlockName(name: name, namespace: namespace)
        let policy = (profile.spec?.policy ?? "").trimmingWhitespace()
        guard !policy.isEmpty else { throw Problem("spec.policy: Required value") }
        try checkBalanced(policy)
        return block(moduleName(name: name, namespace: namespace), body: policy)
    }

    private static func block(_ name: String, body: String) -> String {
        let indented = body.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "    " + $0 }
        return "(block \(name)\n" + indented.joined(separator: "\n") + "\n)\n"
    }

    /// Labels, classes and permissions: letters, digits, `.`, `-`, `_` (upstream's rule),
    /// which also keeps them from breaking the CIL.
    static func checkIdentifier(_ value: String, field: String) throws(Problem) {
        let valid = !value.isEmpty && value.utf8.count <= 255 && value.unicodeScalars.allSatisfy {
            ($0.value >= 0x30 && $0.value <= 0x39) || ($0.value >= 0x41 && $0.value <= 0x5A) || ($0.value >= 0x61 && $0.value <= 0x7A)
                || $0 == "." || $0 == "-" || $0 == "_"
        }
        if !valid { throw Problem("\(field): \"\(value)\" may only contain letters, digits, '.', '-' and '_'") }
    }

    /// A `.` in the block name would make CIL read it as a nested name.
    static func checkBlockName(name: String, namespace: String) throws(Problem) {
        guard !name.isEmpty, !namespace.isEmpty else { throw Problem("metadata: name and namespace are required") }
        if name.contains(".") { throw Problem("metadata.name: \"\(name)\" contains '.', which CIL block names cannot") }
    }

    /// Parentheses balance outside strings and `;` comments, and never close more than opened.
    static func checkBalanced(_ policy: String) throws(Problem) {
        var depth = 0, line = 1
        var inString = false, inComment = false
        for character in policy.unicodeScalars {
            if character == "\n" {
                line += 1
                inComment = false
                continue
            }
            if inComment { continue }
            if inString {
                if character == "\"" { inString = false }
                continue
            }
            switch character {
            case ";": inComment = true
            case "\"": inString = true
            case "(": depth += 1
            case ")":
                depth -= 1
                if depth < 0 { throw Problem("spec.policy: line \(line): ')' closes more than the policy opened") }
            default: break
            }
        }
        if inString { throw Problem("spec.policy: unterminated string") }
        if depth != 0 { throw Problem("spec.policy: \(depth) unclosed '('") }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = scalars.firstIndex(where: { !isSpace($0) }), let last = scalars.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(scalars[first...last])
    }
}
