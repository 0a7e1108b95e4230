import Yams

/// The documents of a YAML (or JSON) stream as Foundation values. Unlike Yams' `load_all`,
/// whose iterator stops quietly at a syntax error, an error anywhere in the stream is thrown.
public enum YAMLStream {
    public static func documents(_ text: String) throws -> [Any] {
        let parser = try Parser(yaml: text)
        var documents: [Any] = []
        while let node = try parser.nextRoot() {
            documents.append(Constructor.default.any(from: node))
        }
        return documents
    }
}
