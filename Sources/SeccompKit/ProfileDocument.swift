import Foundation
import KubeModels
import SPOAPI
import Yams

/// A seccomp profile read from one of the formats `spoc` reads and writes:
/// - `crd`: a SeccompProfile object (YAML or JSON, as applied with kubectl);
/// - `json`: a raw seccomp profile, the file kubelet, runc or `docker --security-opt` read;
/// - `oci`: an OCI runtime config (or a fragment of one) with the profile in `linux.seccomp`.
public struct ProfileDocument: Sendable, Hashable {
    public enum Format: String, Sendable, CaseIterable {
        case crd, json, oci
    }

    public var format: Format
    /// The object's name and namespace (`crd` only).
    public var name: String?
    public var namespace: String?
    public var spec: SeccompProfile.Spec

    public init(format: Format, name: String? = nil, namespace: String? = nil, spec: SeccompProfile.Spec) {
        self.format = format
        self.name = name
        self.namespace = namespace
        self.spec = spec
    }

    /// The object as a SeccompProfile (raw profiles get `name`), for validation.
    public func object(defaultName: String) -> SeccompProfile {
        SeccompProfile(metadata: ObjectMeta(name: name ?? defaultName, namespace: namespace ?? "default"), spec: spec)
    }

    // MARK: Reading

    /// Why a document cannot be read, with the place at fault.
    public struct ReadError: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// The fields a raw or OCI profile may have; anything else (Docker's `archMap`,
    /// `includes`, ...) is refused rather than silently dropped.
    static let rawFields: Set<String> = ["defaultAction", "architectures", "syscalls", "flags", "listenerPath", "listenerMetadata"]
    static let ruleFields: Set<String> = ["names", "action", "errnoRet", "args", "comment"]

    /// Every profile document of a file (YAML streams may hold several; JSON is one).
    /// Objects of other kinds are refused, or left out with `skippingOtherKinds` (then the
    /// result may be empty).
    public static func read(_ data: Data, skippingOtherKinds: Bool = false) throws(ReadError) -> [ProfileDocument] {
        let text = String(decoding: data, as: UTF8.self)
        let documents: [Any]
        do {
            documents = try YAMLStream.documents(text).filter { !($0 is NSNull) }
        } catch {
            throw ReadError("not YAML or JSON: \(Self.oneLine(error))")
        }
        guard !documents.isEmpty else { throw ReadError("no profile in the file") }
        var profiles: [ProfileDocument] = []
        for (index, document) in documents.enumerated() {
            let place = documents.count > 1 ? "document \(index + 1): " : ""
            if skippingOtherKinds, let kind = (document as? [String: Any])?["kind"], kind as? String != SeccompProfile.kind { continue }
            do {
                profiles.append(try read(object: document))
            } catch {
                throw ReadError(place + error.message)
            }
        }
        return profiles
    }

    private static func read(object document: Any) throws(ReadError) -> ProfileDocument {
        guard let object = document as? [String: Any] else { throw ReadError("expected a mapping at the top level") }
        if let kind = object["kind"] {
            guard kind as? String == SeccompProfile.kind else { throw ReadError("kind \(kind) is not a SeccompProfile") }
            let profile = try decode(SeccompProfile.self, object)
            guard let spec = profile.spec else { throw ReadError("spec: Required value") }
            return ProfileDocument(format: .crd, name: profile.metadata.name, namespace: profile.metadata.namespace, spec: spec)
        }
        if let linux = object["linux"] {
            guard let seccomp = (linux as? [String: Any])?["seccomp"] as? [String: Any] else {
                throw ReadError("linux.seccomp: not found in the OCI configuration")
            }
            do {
                return ProfileDocument(format: .oci, spec: try raw(seccomp))
            } catch {
                throw ReadError("linux.seccomp." + error.message)
            }
        }
        guard object["defaultAction"] != nil else {
            throw ReadError("neither a SeccompProfile (kind), an OCI configuration (linux.seccomp) nor a seccomp profile (defaultAction)")
        }
        return ProfileDocument(format: .json, spec: try raw(object))
    }

    private static func raw(_ object: [String: Any]) throws(ReadError) -> SeccompProfile.Spec {
        if object["defaultErrnoRet"] != nil {
            throw ReadError("defaultErrnoRet: not supported (a SeccompProfile's default action returns EPERM)")
        }
        if let unknown = object.keys.filter({ !rawFields.contains($0) }).sorted().first {
            throw ReadError("\(unknown): not a field of a seccomp profile")
        }
        for (index, rule) in (object["syscalls"] as? [Any] ?? []).enumerated() {
            guard let rule = rule as? [String: Any] else { throw ReadError("syscalls[\(index)]: expected a mapping") }
            if let unknown = rule.keys.filter({ !ruleFields.contains($0) }).sorted().first {
                throw ReadError("syscalls[\(index)].\(unknown): not supported")
            }
        }
        return try decode(SeccompProfile.Spec.self, object)
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ object: [String: Any]) throws(ReadError) -> T {
        let json: Data
        do {
            json = try JSONSerialization.data(withJSONObject: object)
        } catch {
            throw ReadError("cannot be represented as JSON: \(oneLine(error))")
        }
        do {
            return try APIDecoder.decode(T.self, from: json)
        } catch {
            throw ReadError(error.description)
        }
    }

    static func oneLine(_ error: any Error) -> String {
        "\(error)".split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }

    // MARK: Writing

    /// The profile in `format`, ending with a newline. `crd` output is named `name` in
    /// `namespace` (if given); `json` and `oci` output cannot carry `baseProfileName` (resolve
    /// bases first) nor `disabled`.
    public static func render(_ spec: SeccompProfile.Spec, as format: Format, name: String, namespace: String? = nil) -> String {
        switch format {
        case .crd:
            var metadata: [(String, Yams.Node)] = [("name", Yams.Node(name))]
            if let namespace { metadata.append(("namespace", Yams.Node(namespace))) }
            let object = Yams.Node.mapping(Yams.Node.Mapping([
                ("apiVersion", Yams.Node(SeccompProfile.apiVersion)),
                ("kind", Yams.Node(SeccompProfile.kind)),
                ("metadata", .mapping(Yams.Node.Mapping(metadata.map { (Yams.Node($0.0), $0.1) }))),
                ("spec", orderedNode(spec)),
            ].map { (Yams.Node($0.0), $0.1) }))
            // Serializing a tree of plain scalars, sequences and mappings cannot fail.
            return try! Yams.serialize(node: object, sortKeys: false)
        case .json:
            return String(decoding: ProfileFile.render(runtimeSpec(spec)), as: UTF8.self) + "\n"
        case .oci:
            let section = String(decoding: ProfileFile.render(runtimeSpec(spec)), as: UTF8.self)
            return "{\"linux\":{\"seccomp\":\(section)}}\n"
        }
    }

    /// What a runtime reads: no `disabled`, no `baseProfileName`.
    public static func runtimeSpec(_ spec: SeccompProfile.Spec) -> SeccompProfile.Spec {
        var spec = spec
        spec.disabled = nil
        spec.baseProfileName = nil
        return spec
    }

    /// The spec in the installed file's field order (JSON is YAML, and composing keeps order).
    private static func orderedNode(_ spec: SeccompProfile.Spec) -> Yams.Node {
        let json = String(decoding: ProfileFile.render(spec), as: UTF8.self)
        // The renderer's JSON always composes.
        let node = try! Yams.compose(yaml: json)!
        return plain(node)
    }

    /// The node without JSON's flow style and quoting, so that it prints as block YAML.
    private static func plain(_ node: Yams.Node) -> Yams.Node {
        switch node {
        case .scalar(let scalar):
            var copy = scalar
            copy.style = .any
            // Strings that YAML would read as something else stay quoted.
            if scalar.style == .doubleQuoted, (try? Yams.load(yaml: scalar.string)).map({ !($0 is String) }) ?? true {
                copy.style = .singleQuoted
            }
            return .scalar(copy)
        case .sequence(let sequence):
            return .sequence(Yams.Node.Sequence(sequence.map(plain)))
        case .mapping(let mapping):
            return .mapping(Yams.Node.Mapping(mapping.map { (plain($0.key), plain($0.value)) }))
        case .alias:
            return node
        }
    }
}
