import Foundation
import KubeModels

/// A path to a field, printed the way Kubernetes prints them: `spec.syscalls[0].names`.
public struct FieldPath: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public private(set) var description: String

    public init(_ root: String) { description = root }
    public init(stringLiteral value: String) { description = value }

    public func child(_ name: String) -> FieldPath { FieldPath(description.isEmpty ? name : "\(description).\(name)") }
    public func index(_ index: Int) -> FieldPath { FieldPath("\(description)[\(index)]") }
    public func key(_ key: String) -> FieldPath { FieldPath("\(description)[\(key)]") }
}

/// One thing wrong with an object, with the field it concerns, shaped like the API server's
/// `field.Error` (`spec.defaultAction: Unsupported value: "X": supported values: ...`).
public struct ValidationProblem: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case required = "Required value"
        case unsupported = "Unsupported value"
        case invalid = "Invalid value"
        case tooMany = "Too many"
        case tooLong = "Too long"
        case invalidType = "Invalid type"
        /// A field the schema does not declare: the API server would prune it.
        case unknownField = "Unknown field"
    }

    public var field: String
    public var reason: Reason
    /// The offending value as written, when there is one.
    public var value: String?
    public var detail: String

    public init(field: FieldPath, reason: Reason, value: String? = nil, detail: String = "") {
        self.field = field.description
        self.reason = reason
        self.value = value
        self.detail = detail
    }

    public var description: String {
        var text = "\(field): \(reason.rawValue)"
        if let value { text += ": \"\(value)\"" }
        if !detail.isEmpty { text += ": \(detail)" }
        return text
    }
}

/// Every problem found in one object; thrown by ``Validatable/validated(_:)``.
public struct ValidationFailure: Error, Hashable, Sendable, CustomStringConvertible {
    public var problems: [ValidationProblem]

    public var description: String { problems.map(\.description).joined(separator: "; ") }
}

/// Checks syscall names, e.g. against libseccomp's table (the seccomp kit provides one).
public protocol SyscallNameValidator: Sendable {
    func isKnown(_ name: String) -> Bool
}

/// What validation may consult beyond the object itself.
public struct ValidationContext: Sendable {
    /// When set, every syscall name must be known to it.
    public var syscallNames: (any SyscallNameValidator)?

    public init(syscallNames: (any SyscallNameValidator)? = nil) {
        self.syscallNames = syscallNames
    }
}

/// An API object that can list everything wrong with it.
public protocol Validatable {
    /// Every problem, in field order; empty when the object is valid.
    func validate(_ context: ValidationContext) -> [ValidationProblem]
}

extension Validatable {
    public func validate() -> [ValidationProblem] { validate(ValidationContext()) }

    /// Returns `self`, or throws every problem at once.
    public func validated(_ context: ValidationContext = ValidationContext()) throws(ValidationFailure) -> Self {
        let problems = validate(context)
        guard problems.isEmpty else { throw ValidationFailure(problems: problems) }
        return self
    }
}

/// Accumulates problems while walking an object.
struct ProblemList {
    private(set) var problems: [ValidationProblem] = []

    /// The frame every kind's validation shares: the metadata rules, then `checkSpec` with the
    /// spec and its field path. A missing spec is a problem when `required`, else nothing more
    /// is checked.
    static func validate<Spec>(
        _ metadata: ObjectMeta, spec: Spec?, required: Bool = true, _ checkSpec: (inout ProblemList, Spec, FieldPath) -> Void
    ) -> [ValidationProblem] {
        var problems = ProblemList()
        problems.checkMetadata(metadata)
        let field = FieldPath("spec")
        guard let spec = required ? problems.require(spec, at: field) : spec else { return problems.problems }
        checkSpec(&problems, spec, field)
        return problems.problems
    }

    mutating func add(_ field: FieldPath, _ reason: ValidationProblem.Reason, value: String? = nil, _ detail: String = "") {
        problems.append(ValidationProblem(field: field, reason: reason, value: value, detail: detail))
    }

    mutating func require<T>(_ value: T?, at field: FieldPath) -> T? {
        if value == nil { add(field, .required) }
        return value
    }

    mutating func requireNonEmpty(_ value: String?, at field: FieldPath) {
        if (value ?? "").isEmpty { add(field, .required) }
    }

    mutating func check<E: OpenEnum>(_ value: E?, at field: FieldPath, required: Bool = false) {
        guard let value else {
            if required { add(field, .required) }
            return
        }
        if !value.isAllowed {
            let supported = E.allowed.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            add(field, .unsupported, value: value.rawValue, "supported values: \(supported)")
        }
    }

    mutating func check<E: OpenEnum>(_ values: [E]?, at field: FieldPath) {
        for (index, value) in (values ?? []).enumerated() { check(value, at: field.index(index)) }
    }

    /// Object names become file and policy names: they must be DNS-1123 subdomains, which
    /// rules out `/`, `..` and anything else that could leave the profile directory.
    mutating func checkMetadata(_ metadata: ObjectMeta) {
        let field = FieldPath("metadata")
        if let name = metadata.name, !name.isEmpty {
            if name.count > 253 {
                add(field.child("name"), .tooLong, value: name, "must have at most 253 characters")
            } else if !KubeNames.isSubdomain(name) {
                add(field.child("name"), .invalid, value: name, KubeNames.subdomainMessage)
            }
        } else if (metadata.generateName ?? "").isEmpty {
            add(field.child("name"), .required, "name or generateName is required")
        }
        if let namespace = metadata.namespace, !namespace.isEmpty, !KubeNames.isLabel(namespace) {
            add(field.child("namespace"), .invalid, value: namespace, KubeNames.labelMessage)
        }
    }
}

/// Kubernetes object-name rules (RFC 1123).
public enum KubeNames {
    static let subdomainMessage = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
    static let labelMessage = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', start and end with an alphanumeric character, and have at most 63 characters"

    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?` with at most 63 characters.
    public static func isLabel(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 63 else { return false }
        func alphanumeric(_ byte: UInt8) -> Bool { (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) }
        guard alphanumeric(bytes.first!), alphanumeric(bytes.last!) else { return false }
        return bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    /// Dot-separated RFC 1123 labels, at most 253 characters.
    public static func isSubdomain(_ text: String) -> Bool {
        guard text.utf8.count <= 253 else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            let bytes = Array(label.utf8)
            guard !bytes.isEmpty else { return false }
            func alphanumeric(_ byte: UInt8) -> Bool { (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) }
            return alphanumeric(bytes.first!) && alphanumeric(bytes.last!) && bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") }
        }
    }

    static let qualifiedNameMessage = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', 'my.name', or '123-abc'), with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"

    /// A label key or toleration key: an optional DNS subdomain prefix and `/`, then a name of at
    /// most 63 alphanumerics, `-`, `_` or `.`, starting and ending alphanumeric.
    public static func isQualifiedName(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let name = parts.last else { return false }
        if parts.count == 2, !isSubdomain(String(parts[0])) { return false }
        let bytes = Array(name.utf8)
        func alphanumeric(_ byte: UInt8) -> Bool {
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
        }
        guard !bytes.isEmpty, bytes.count <= 63, alphanumeric(bytes.first!), alphanumeric(bytes.last!) else { return false }
        return bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }
}

/// Decodes API objects from JSON, turning decoding failures (a wrong type, a malformed value)
/// into a ``ValidationProblem`` that names the field.
public enum APIDecoder {
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(ValidationProblem) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            // Foundation reports a number that does not fit the field's integer type as corrupt
            // data without a coding path; point at the non-integral numbers instead.
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty,
               let document = try? JSONDecoder().decode(JSONValue.self, from: data),
               let field = firstNonInteger(in: document, at: FieldPath("")) {
                throw ValidationProblem(field: field, reason: .invalidType, detail: "expected integer")
            }
            throw problem(for: error)
        } catch {
            throw ValidationProblem(field: "", reason: .invalid, detail: "\(error)")
        }
    }

    /// The problem a `DecodingError` describes, with its coding path as a field path.
    public static func problem(for error: DecodingError) -> ValidationProblem {
        func path(_ codingPath: [any CodingKey], appending key: (any CodingKey)? = nil) -> FieldPath {
            var field = FieldPath("")
            for key in codingPath + (key.map { [$0] } ?? []) {
                field = key.intValue.map { field.index($0) } ?? field.child(key.stringValue)
            }
            return field
        }
        switch error {
        case .typeMismatch(let type, let context):
            return ValidationProblem(field: path(context.codingPath), reason: .invalidType, detail: "expected \(typeName(type))")
        case .valueNotFound(let type, let context):
            return ValidationProblem(field: path(context.codingPath), reason: .required, detail: "expected \(typeName(type))")
        case .keyNotFound(let key, let context):
            return ValidationProblem(field: path(context.codingPath, appending: key), reason: .required)
        case .dataCorrupted(let context):
            return ValidationProblem(field: path(context.codingPath), reason: .invalid, detail: context.debugDescription)
        @unknown default:
            return ValidationProblem(field: "", reason: .invalid, detail: "\(error)")
        }
    }

    private static func firstNonInteger(in value: JSONValue, at field: FieldPath) -> FieldPath? {
        switch value {
        case .double(let number) where number != number.rounded() || abs(number) >= 9.2e18:
            return field
        case .array(let items):
            for (index, item) in items.enumerated() {
                if let found = firstNonInteger(in: item, at: field.index(index)) { return found }
            }
        case .object(let members):
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                if let found = firstNonInteger(in: member, at: field.child(key)) { return found }
            }
        default:
            break
        }
        return nil
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "string"
        case is Bool.Type: return "boolean"
        case is Int.Type, is Int64.Type, is UInt64.Type, is UInt.Type, is Int32.Type: return "integer"
        case is Double.Type, is Float.Type: return "number"
        case is [Any].Type: return "array"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "array" }
            if name.hasPrefix("Dictionary") || name.hasPrefix("KeyedDecodingContainer") { return "object" }
            return name
        }
    }
}
