import Foundation
import SPOAPI

/// The bytes of an installed profile file (reference §3.2): the compact JSON of the
/// SeccompProfile spec after base resolution, in the upstream field order, with Go's
/// `omitempty` semantics (false, zero and empty values left out) and no trailing newline.
/// Kubelet and the container runtime read this file as a Docker/OCI-style seccomp profile.
public enum ProfileFile {
    public static func render(_ spec: SeccompProfile.Spec) -> [UInt8] {
        var members: [(String, OrderedJSON)] = []
        if spec.disabled == true { members.append(("disabled", .bool(true))) }
        members.appendNonEmpty("baseProfileName", spec.baseProfileName)
        members.appendNonEmpty("defaultAction", spec.defaultAction?.rawValue)
        members.appendNonEmpty("architectures", spec.architectures?.map(\.rawValue))
        members.appendNonEmpty("listenerPath", spec.listenerPath)
        members.appendNonEmpty("listenerMetadata", spec.listenerMetadata)
        if let syscalls = spec.syscalls, !syscalls.isEmpty {
            members.append(("syscalls", .array(syscalls.map(rule))))
        }
        members.appendNonEmpty("flags", spec.flags?.map(\.rawValue))
        return Array(OrderedJSON.object(members).text.utf8)
    }

    /// The `syscalls` annotation upstream puts on a profile: the merged rules as Go marshals
    /// them (the file's `syscalls` array, `null` for none).
    public static func syscallsAnnotation(_ syscalls: [SeccompProfile.Syscall]?) -> String {
        guard let syscalls else { return "null" }
        return OrderedJSON.array(syscalls.map(rule)).text
    }

    /// Where the file lives relative to the kubelet's seccomp directory, which is also the
    /// `localhostProfile` pods name: `operator/<namespace>/<name>.json`. A name already ending
    /// in `.json` gets no second suffix.
    public static func localhostProfile(namespace: String, name: String) -> String {
        SeccompProfile.localhostProfile(namespace: namespace, name: name)
    }

    private static func rule(_ rule: SeccompProfile.Syscall) -> OrderedJSON {
        // `names` and `action` are required, so Go writes them even when empty.
        var members: [(String, OrderedJSON)] = [
            ("names", .array((rule.names ?? []).map(OrderedJSON.string))),
            ("action", .string(rule.action?.rawValue ?? "")),
        ]
        if let errno = rule.errnoRet, errno != 0 { members.append(("errnoRet", .int(errno))) }
        if let args = rule.args, !args.isEmpty {
            members.append(("args", .array(args.map { arg in
                var argMembers: [(String, OrderedJSON)] = [("index", .int(arg.index ?? 0))]
                if let value = arg.value, value != 0 { argMembers.append(("value", .int(value))) }
                if let value = arg.valueTwo, value != 0 { argMembers.append(("valueTwo", .int(value))) }
                argMembers.append(("op", .string(arg.op?.rawValue ?? "")))
                return .object(argMembers)
            })))
        }
        return .object(members)
    }
}

/// JSON whose object members keep the order they were given in (Foundation's encoder does not
/// promise an order). Strings are escaped by Foundation's encoder.
enum OrderedJSON {
    case bool(Bool)
    case int(Int64)
    case string(String)
    case array([OrderedJSON])
    case object([(String, OrderedJSON)])

    var text: String {
        switch self {
        case .bool(let flag): return flag ? "true" : "false"
        case .int(let number): return String(number)
        case .string(let value): return Self.quoted(value)
        case .array(let items): return "[" + items.map(\.text).joined(separator: ",") + "]"
        case .object(let members): return "{" + members.map { Self.quoted($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    private static func quoted(_ value: String) -> String {
        // Syscall names, actions and operators are printable ASCII that needs no escaping:
        // quoted directly (rendering a profile quotes every name, and the encoder is slow).
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            return "\"" + value + "\""
        }
        // Encoding a String cannot fail.
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }
}

extension [(String, OrderedJSON)] {
    fileprivate mutating func appendNonEmpty(_ key: String, _ value: String?) {
        if let value, !value.isEmpty { append((key, .string(value))) }
    }

    fileprivate mutating func appendNonEmpty(_ key: String, _ values: [String]?) {
        if let values, !values.isEmpty { append((key, .array(values.map(OrderedJSON.string)))) }
    }
}
