import Foundation

/// `meta/v1.LabelSelector`: the structured selector used in specs.
public struct LabelSelector: Codable, Hashable, Sendable {
    public var matchLabels: [String: String]?
    public var matchExpressions: [LabelSelectorRequirement]?

    public init(matchLabels: [String: String]? = nil, matchExpressions: [LabelSelectorRequirement]? = nil) {
        self.matchLabels = matchLabels
        self.matchExpressions = matchExpressions
    }

    /// The equivalent query-string selector, e.g. `app=x,tier in (a,b)`.
    public var selectorString: String {
        var parts: [String] = (matchLabels ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        for requirement in matchExpressions ?? [] {
            let values = (requirement.values ?? []).sorted().joined(separator: ",")
            switch requirement.operator {
            case "In": parts.append("\(requirement.key) in (\(values))")
            case "NotIn": parts.append("\(requirement.key) notin (\(values))")
            case "Exists": parts.append(requirement.key)
            case "DoesNotExist": parts.append("!\(requirement.key)")
            default: continue
            }
        }
        return parts.joined(separator: ",")
    }
}

extension LabelSelector {
    /// Whether `labels` satisfy every `matchLabels` pair and every expression; an empty
    /// selector matches everything, an expression with an unknown operator matches nothing
    /// (as the API server treats a selector it cannot convert).
    public func matches(_ labels: [String: String]) -> Bool {
        for (key, value) in matchLabels ?? [:] where labels[key] != value { return false }
        for requirement in matchExpressions ?? [] {
            let values = Set(requirement.values ?? [])
            switch requirement.operator {
            case "In": if !(labels[requirement.key].map(values.contains) ?? false) { return false }
            case "NotIn": if labels[requirement.key].map(values.contains) ?? false { return false }
            case "Exists": if labels[requirement.key] == nil { return false }
            case "DoesNotExist": if labels[requirement.key] != nil { return false }
            default: return false
            }
        }
        return true
    }
}

/// `meta/v1.LabelSelectorRequirement`.
public struct LabelSelectorRequirement: Codable, Hashable, Sendable {
    public var key: String
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    public var `operator`: String
    public var values: [String]?

    public init(key: String, operator: String, values: [String]? = nil) {
        self.key = key
        self.operator = `operator`
        self.values = values
    }
}

/// A parsed label or field selector in the query-string syntax of the API
/// (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`), ANDed by commas.
public struct Selector: Hashable, Sendable, CustomStringConvertible {
    /// One requirement of a selector.
    public enum Requirement: Hashable, Sendable {
        case equals(String, String)
        case notEquals(String, String)
        case `in`(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case doesNotExist(String)
    }

    /// The error for selector text that does not parse.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var selector: String
        public var message: String
        public var description: String { "invalid selector \"\(selector)\": \(message)" }
    }

    public var requirements: [Requirement]
    public let description: String

    /// The selector that matches everything.
    public static let everything = Selector(requirements: [], description: "")

    init(requirements: [Requirement], description: String) {
        self.requirements = requirements
        self.description = description
    }

    /// Parses selector text. `allowSetBased` is false for field selectors, which know only `=`, `==`, `!=`.
    public init(parsing text: String, allowSetBased: Bool = true) throws(ParseError) {
        description = text
        requirements = []
        for term in Self.splitTerms(text) {
            let trimmed = term.trimmingSpaces()
            if trimmed.isEmpty { continue }
            requirements.append(try Self.parseTerm(trimmed, selector: text, allowSetBased: allowSetBased))
        }
    }

    /// Whether a set of labels (or field values) satisfies every requirement.
    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let key, let value): return labels[key] == value
            case .notEquals(let key, let value): return labels[key] != value
            case .in(let key, let values): return labels[key].map(values.contains) ?? false
            case .notIn(let key, let values): return !(labels[key].map(values.contains) ?? false)
            case .exists(let key): return labels[key] != nil
            case .doesNotExist(let key): return labels[key] == nil
            }
        }
    }

    /// The keys the selector reads (used to collect field values).
    public var keys: [String] {
        requirements.map {
            switch $0 {
            case .equals(let key, _), .notEquals(let key, _), .in(let key, _), .notIn(let key, _), .exists(let key), .doesNotExist(let key):
                return key
            }
        }
    }

    private static func splitTerms(_ text: String) -> [String] {
        var terms: [String] = []
        var current = ""
        var depth = 0
        for character in text {
            switch character {
            case "(": depth += 1; current.append(character)
            case ")": depth -= 1; current.append(character)
            case "," where depth == 0: terms.append(current); current = ""
            default: current.append(character)
            }
        }
        terms.append(current)
        return terms
    }

    private static func parseTerm(_ term: String, selector: String, allowSetBased: Bool) throws(ParseError) -> Requirement {
        func fail(_ message: String) -> ParseError { ParseError(selector: selector, message: message) }
        func checkKey(_ key: String) throws(ParseError) -> String {
            let key = key.trimmingSpaces()
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || "-_./".contains($0) }) else {
                throw fail("invalid key \"\(key)\"")
            }
            return key
        }
        if let range = term.range(of: "!=") {
            return .notEquals(try checkKey(String(term[..<range.lowerBound])), String(term[range.upperBound...]).trimmingSpaces())
        }
        if let range = term.range(of: "==") ?? term.range(of: "=") {
            return .equals(try checkKey(String(term[..<range.lowerBound])), String(term[range.upperBound...]).trimmingSpaces())
        }
        guard allowSetBased else { throw fail("field selectors support only =, == and !=") }
        if term.hasPrefix("!") {
            return .doesNotExist(try checkKey(String(term.dropFirst())))
        }
        for (word, isIn) in [(" notin ", false), (" in ", true)] {
            if let range = term.range(of: word) {
                let key = try checkKey(String(term[..<range.lowerBound]))
                let rest = term[range.upperBound...].trimmingSpaces()
                guard rest.hasPrefix("("), rest.hasSuffix(")") else { throw fail("values of \"\(key)\" must be in parentheses") }
                let values = Set(rest.dropFirst().dropLast().split(separator: ",").map { String($0).trimmingSpaces() })
                return isIn ? .in(key, values) : .notIn(key, values)
            }
        }
        return .exists(try checkKey(term))
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
