import SPOAPI

/// What one syscall name is given by a profile: its action, errno and argument conditions.
/// A name can have several rules (one per argument condition).
public struct SyscallRule: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public var action: String
    public var errnoRet: Int64?
    public var args: [SeccompProfile.Arg]

    public init(_ entry: SeccompProfile.Syscall) {
        action = entry.action?.rawValue ?? ""
        errnoRet = entry.errnoRet.flatMap { $0 == 0 ? nil : $0 }
        args = entry.args ?? []
    }

    /// `SCMP_ACT_ERRNO(1) if arg0 == 5`-style text.
    public var description: String {
        var text = action
        if let errnoRet { text += "(\(errnoRet))" }
        if !args.isEmpty {
            text += " if " + args.map { arg in
                "arg\(arg.index ?? 0) \(arg.op?.rawValue ?? "") \(arg.value ?? 0)" + ((arg.valueTwo ?? 0) != 0 ? " \(arg.valueTwo!)" : "")
            }.joined(separator: " && ")
        }
        return text
    }

    public static func < (lhs: SyscallRule, rhs: SyscallRule) -> Bool { lhs.description < rhs.description }
}

extension SeccompProfile.Spec {
    /// Every syscall name with its rules, sorted.
    public var rulesByName: [String: [SyscallRule]] {
        var rules: [String: Set<SyscallRule>] = [:]
        for entry in syscalls ?? [] {
            for name in entry.names ?? [] { rules[name, default: []].insert(SyscallRule(entry)) }
        }
        return rules.mapValues { $0.sorted() }
    }
}

/// How two profiles differ, for `spoc diff`: default action, architectures, flags and every
/// syscall added, removed or given other rules.
public struct ProfileDifference: Hashable, Sendable, Codable {
    public struct SyscallChange: Hashable, Sendable, Codable {
        public var name: String
        /// The rules in the first profile (empty: added) and in the second (empty: removed).
        public var from: [SyscallRule]
        public var to: [SyscallRule]
    }

    public var defaultAction: [String]?
    public var architecturesAdded: [String]
    public var architecturesRemoved: [String]
    public var flagsAdded: [String]
    public var flagsRemoved: [String]
    public var syscalls: [SyscallChange]

    public var isEmpty: Bool {
        defaultAction == nil && architecturesAdded.isEmpty && architecturesRemoved.isEmpty && flagsAdded.isEmpty
            && flagsRemoved.isEmpty && syscalls.isEmpty
    }

    public init(from first: SeccompProfile.Spec, to second: SeccompProfile.Spec) {
        let firstDefault = first.defaultAction?.rawValue ?? "", secondDefault = second.defaultAction?.rawValue ?? ""
        defaultAction = firstDefault == secondDefault ? nil : [firstDefault, secondDefault]
        let firstArchitectures = Set((first.architectures ?? []).map(\.rawValue)), secondArchitectures = Set((second.architectures ?? []).map(\.rawValue))
        architecturesAdded = secondArchitectures.subtracting(firstArchitectures).sorted()
        architecturesRemoved = firstArchitectures.subtracting(secondArchitectures).sorted()
        let firstFlags = Set((first.flags ?? []).map(\.rawValue)), secondFlags = Set((second.flags ?? []).map(\.rawValue))
        flagsAdded = secondFlags.subtracting(firstFlags).sorted()
        flagsRemoved = firstFlags.subtracting(secondFlags).sorted()
        let before = first.rulesByName, after = second.rulesByName
        syscalls = Set(before.keys).union(after.keys).sorted().compactMap { name in
            let from = before[name] ?? [], to = after[name] ?? []
            return from == to ? nil : SyscallChange(name: name, from: from, to: to)
        }
    }

    /// One line per difference: `+` added, `-` removed, `~` changed.
    public var lines: [String] {
        var lines: [String] = []
        if let defaultAction { lines.append("~ defaultAction: \(defaultAction[0]) -> \(defaultAction[1])") }
        lines += architecturesAdded.map { "+ architecture \($0)" } + architecturesRemoved.map { "- architecture \($0)" }
        lines += flagsAdded.map { "+ flag \($0)" } + flagsRemoved.map { "- flag \($0)" }
        for change in syscalls {
            let from = change.from.map(\.description).joined(separator: ", "), to = change.to.map(\.description).joined(separator: ", ")
            if change.from.isEmpty {
                lines.append("+ \(change.name): \(to)")
            } else if change.to.isEmpty {
                lines.append("- \(change.name): \(from)")
            } else {
                lines.append("~ \(change.name): \(from) -> \(to)")
            }
        }
        return lines
    }
}

/// The union of several profiles, for `spoc merge`: every syscall any of them names, the
/// architectures and flags of all. Where inputs disagree (another default action, other rules
/// for one syscall) the first input that names it wins and the disagreement is reported.
public struct ProfileMerge: Sendable {
    /// A disagreement: what each input said, by input index.
    public struct Conflict: Hashable, Sendable, CustomStringConvertible {
        public var subject: String
        public var values: [(input: Int, value: String)]

        public static func == (lhs: Conflict, rhs: Conflict) -> Bool {
            lhs.subject == rhs.subject && lhs.values.map(\.input) == rhs.values.map(\.input) && lhs.values.map(\.value) == rhs.values.map(\.value)
        }

        public func hash(into hasher: inout Hasher) { hasher.combine(subject) }

        public var description: String {
            "\(subject): " + values.map { "input \($0.input + 1): \($0.value)" }.joined(separator: "; ")
        }
    }

    public var merged: SeccompProfile.Spec
    public var conflicts: [Conflict]

    public init(_ inputs: [SeccompProfile.Spec]) {
        var conflicts: [Conflict] = []
        var merged = SeccompProfile.Spec(defaultAction: nil)
        let defaults = inputs.enumerated().compactMap { index, spec in spec.defaultAction.map { (index, $0) } }
        merged.defaultAction = defaults.first?.1
        if Set(defaults.map(\.1)).count > 1 {
            conflicts.append(Conflict(subject: "defaultAction", values: defaults.map { ($0.0, $0.1.rawValue) }))
        }
        var architectures: [SeccompArchitecture] = []
        var flags: [SeccompFlag] = []
        for spec in inputs {
            for architecture in spec.architectures ?? [] where !architectures.contains(architecture) { architectures.append(architecture) }
            for flag in spec.flags ?? [] where !flags.contains(flag) { flags.append(flag) }
        }
        merged.architectures = architectures.isEmpty ? nil : architectures
        merged.flags = flags.isEmpty ? nil : flags

        // Per name, the rules of the first input naming it; others are compared with them.
        var chosen: [String: (input: Int, rules: [SyscallRule])] = [:]
        var disagreements: [String: [(input: Int, value: String)]] = [:]
        for (index, spec) in inputs.enumerated() {
            for (name, rules) in spec.rulesByName {
                guard let first = chosen[name] else {
                    chosen[name] = (index, rules)
                    continue
                }
                if first.rules != rules {
                    if disagreements[name] == nil { disagreements[name] = [(first.input, first.rules.map(\.description).joined(separator: ", "))] }
                    disagreements[name]?.append((index, rules.map(\.description).joined(separator: ", ")))
                }
            }
        }
        conflicts += disagreements.keys.sorted().map { Conflict(subject: $0, values: disagreements[$0]!) }

        // Names that share a rule go in one entry; entries sorted by action, then rule.
        var namesByRule: [SyscallRule: [String]] = [:]
        for (name, choice) in chosen {
            for rule in choice.rules { namesByRule[rule, default: []].append(name) }
        }
        merged.syscalls = namesByRule.keys.sorted { ($0.action, $0.description) < ($1.action, $1.description) }.map { rule in
            var entry = SeccompProfile.Syscall(names: namesByRule[rule]!.sorted(), action: SeccompAction(rawValue: rule.action))
            entry.errnoRet = rule.errnoRet
            entry.args = rule.args.isEmpty ? nil : rule.args
            return entry
        }
        self.merged = merged
        self.conflicts = conflicts
    }
}
