import SPOAPI

/// Resolves `baseProfileName` chains and merges their syscalls (reference §3.4).
///
/// Only `syscalls` are merged: at each level the base's (already merged) entries come first,
/// then the child's; names inside every entry are sorted, then entries are ordered by action
/// (stable, so base entries stay ahead on ties). Every other field comes from the profile
/// itself, and `baseProfileName` is kept, as upstream writes it.
public enum BaseProfiles {
    /// Upstream's recursion limit.
    public static let maximumDepth = 15

    /// Why a chain of base profiles cannot be resolved.
    public enum Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// `name`, named as a base by `referencedBy`, does not exist (yet).
        case missing(name: String, referencedBy: String)
        /// The chain returns to a profile already in it.
        case cycle([String])
        case tooDeep
        /// `oci://` references need a registry client this operator does not have.
        case unsupportedReference(String)

        public var description: String {
            switch self {
            case .missing(let name, let referencedBy):
                return "base profile \"\(name)\" of \"\(referencedBy)\" not found in the namespace and not built in"
            case .cycle(let chain):
                return "baseProfileName cycle: " + chain.joined(separator: " -> ")
            case .tooDeep:
                return "max recursion level of \(maximumDepth) is reached for resolving base profiles"
            case .unsupportedReference(let reference):
                return "base profile \"\(reference)\": oci:// references are not supported"
            }
        }
    }

    /// The spec of `name` with its bases' syscalls merged in. `lookup` finds a base by name
    /// (a SeccompProfile of the same namespace, else a built-in).
    public static func resolve(
        _ spec: SeccompProfile.Spec, name: String, lookup: (String) -> SeccompProfile.Spec?
    ) throws(Failure) -> SeccompProfile.Spec {
        var resolved = spec
        resolved.syscalls = try mergedSyscalls(spec, chain: [name], lookup: lookup)
        return resolved
    }

    private static func mergedSyscalls(
        _ spec: SeccompProfile.Spec, chain: [String], lookup: (String) -> SeccompProfile.Spec?
    ) throws(Failure) -> [SeccompProfile.Syscall]? {
        guard let baseName = spec.baseProfileName, !baseName.isEmpty else { return spec.syscalls }
        if baseName.hasPrefix("oci://") { throw .unsupportedReference(baseName) }
        if chain.contains(baseName) { throw .cycle(chain + [baseName]) }
        if chain.count > maximumDepth { throw .tooDeep }
        guard let base = lookup(baseName) else { throw .missing(name: baseName, referencedBy: chain.last ?? "") }
        let baseSyscalls = try mergedSyscalls(base, chain: chain + [baseName], lookup: lookup) ?? []
        return merge(base: baseSyscalls, child: spec.syscalls ?? [])
    }

    /// Concatenates base and child entries, sorts names in each entry, then sorts entries by
    /// action, keeping the original order among equal actions.
    public static func merge(base: [SeccompProfile.Syscall], child: [SeccompProfile.Syscall]) -> [SeccompProfile.Syscall] {
        let combined = (base + child).map { entry -> SeccompProfile.Syscall in
            var entry = entry
            entry.names = entry.names?.sorted()
            return entry
        }
        return combined.enumerated()
            .sorted { lhs, rhs in
                let left = lhs.element.action?.rawValue ?? "", right = rhs.element.action?.rawValue ?? ""
                return left != right ? left < right : lhs.offset < rhs.offset
            }
            .map(\.element)
    }
}

/// The spod's `allowedSyscalls` guard (reference §3.5): when the list is set, a profile may
/// allow (or log, trace, notify) only listed syscalls, and may not use those actions as its
/// default.
public struct AllowList: Hashable, Sendable {
    /// The actions the guard restricts when the spod names none.
    public static let restrictableActions: [SeccompAction] = [.allow, .log, .trace, .notify]

    public var allowedSyscalls: [String]
    public var allowedActions: [String]

    public init(allowedSyscalls: [String], allowedActions: [String] = []) {
        self.allowedSyscalls = allowedSyscalls
        self.allowedActions = allowedActions
    }

    /// The guard of a spod, or `nil` when it has no `allowedSyscalls`.
    public init?(spod: SecurityProfilesOperatorDaemon.Spec?) {
        guard let syscalls = spod?.allowedSyscalls, !syscalls.isEmpty else { return nil }
        self.init(allowedSyscalls: syscalls, allowedActions: spod?.allowedSeccompActions ?? [])
    }

    /// Why the (base-merged) profile is not allowed, or `nil` when it is. The message names
    /// every offending syscall, not just the first.
    public func violation(of spec: SeccompProfile.Spec) -> String? {
        let actions = allowedActions.isEmpty ? Self.restrictableActions.map(\.rawValue) : allowedActions
        if let bad = actions.first(where: { action in !Self.restrictableActions.contains { $0.rawValue == action } }) {
            return "seccomp action not allowed: \(bad)"
        }
        if let defaultAction = spec.defaultAction?.rawValue, actions.contains(defaultAction) {
            return "seccomp profile not allowed: its defaultAction \(defaultAction) is restricted to the allowed syscalls"
        }
        let allowed = Set(allowedSyscalls)
        var offending: [String] = []
        for rule in spec.syscalls ?? [] where actions.contains(rule.action?.rawValue ?? "") {
            for name in rule.names ?? [] where !allowed.contains(name) && !offending.contains(name) {
                offending.append(name)
            }
        }
        guard !offending.isEmpty else { return nil }
        return "syscall not allowed: " + offending.joined(separator: ", ")
    }
}
