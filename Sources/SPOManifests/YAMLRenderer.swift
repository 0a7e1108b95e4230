import KubeModels
import Yams

/// Renders JSON documents as Kubernetes-style YAML: `apiVersion`, `kind`, `metadata`, `spec`
/// first at the top, every other mapping sorted by key, strings quoted only when they would
/// otherwise read back as another type. The output is deterministic, so generated manifests
/// can be compared with the committed ones byte for byte.
public enum YAMLRenderer {
    static let leadingKeys = ["apiVersion", "kind", "metadata", "spec"]

    public static func render(_ document: JSONValue) throws -> String {
        try Yams.serialize(node: node(document, topLevel: true), indent: 2, width: -1, allowUnicode: true)
    }

    /// Several documents separated by `---`.
    public static func render(documents: [JSONValue]) throws -> String {
        try documents.map(render).joined(separator: "---\n")
    }

    static func node(_ value: JSONValue, topLevel: Bool = false) -> Yams.Node {
        switch value {
        case .null:
            return Yams.Node("null", Tag(.null))
        case .bool(let flag):
            return Yams.Node(flag ? "true" : "false", Tag(.bool))
        case .int(let number):
            return Yams.Node(String(number), Tag(.int))
        case .double(let number):
            return Yams.Node(String(number), Tag(.float))
        case .string(let text):
            let scalar = text.represented()
            if text.contains("\n") { return .scalar(.init(text, Tag(.str), .literal)) }
            return .scalar(scalar)
        case .array(let items):
            return .sequence(.init(items.map { node($0) }, Tag(.seq), .block))
        case .object(let members):
            let keys = members.keys.sorted { lhs, rhs in
                let left = topLevel ? leadingKeys.firstIndex(of: lhs) ?? leadingKeys.count : 0
                let right = topLevel ? leadingKeys.firstIndex(of: rhs) ?? leadingKeys.count : 0
                return left != right ? left < right : lhs < rhs
            }
            let pairs = keys.map { key in (Yams.Node.scalar(key.represented()), node(members[key]!)) }
            return .mapping(.init(pairs, Tag(.map), .block))
        }
    }
}
