import Foundation
import KubeTestServer
import KubeModels
import SPOAPI
import Testing
import Yams

/// The repository's `examples/` directory.
let examplesDirectory = repositoryRoot.appendingPathComponent("examples")

/// Every document of a YAML file (or string), as JSON.
func documents(yaml: String) throws -> [JSONValue] {
    try Yams.load_all(yaml: yaml).map { document in
        let data = try JSONSerialization.data(withJSONObject: document)
        return try JSONDecoder().decode(JSONValue.self, from: data)
    }
}

/// Every YAML document under `examples/`, with the file it came from.
func exampleDocuments() throws -> [(file: String, json: JSONValue)] {
    let files = FileManager.default.enumerator(at: examplesDirectory, includingPropertiesForKeys: nil)!
        .compactMap { $0 as? URL }
        .filter { $0.pathExtension == "yaml" }
        .sorted { $0.path < $1.path }
    return try files.flatMap { file in
        try documents(yaml: String(contentsOf: file, encoding: .utf8)).map { (file.lastPathComponent, $0) }
    }
}

/// An API object of any of the operator's kinds.
typealias APIObject = Validatable & Encodable

/// Decodes a document by its `kind`.
func decodeObject(_ json: JSONValue) throws -> any APIObject {
    let data = try json.encoded()
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try APIDecoder.decode(T.self, from: data) }
    switch json["kind"]?.stringValue {
    case SeccompProfile.kind: return try decode(SeccompProfile.self)
    case SelinuxProfile.kind: return try decode(SelinuxProfile.self)
    case RawSelinuxProfile.kind: return try decode(RawSelinuxProfile.self)
    case AppArmorProfile.kind: return try decode(AppArmorProfile.self)
    case ProfileRecording.kind: return try decode(ProfileRecording.self)
    case ProfileBinding.kind: return try decode(ProfileBinding.self)
    case SecurityProfilesOperatorDaemon.kind: return try decode(SecurityProfilesOperatorDaemon.self)
    case SecurityProfileNodeStatus.kind: return try decode(SecurityProfileNodeStatus.self)
    default: throw UnknownKind(kind: json["kind"]?.stringValue)
    }
}

struct UnknownKind: Error {
    var kind: String?
}

/// The object encoded back to JSON.
func encoded(_ object: any APIObject) throws -> JSONValue {
    try JSONValue(encoding: object)
}

/// Problems of a SeccompProfile given as YAML, decoding problems included.
func seccompProblems(_ yaml: String, context: ValidationContext = ValidationContext()) throws -> [String] {
    let json = try #require(try documents(yaml: yaml).first)
    let data = try json.encoded()
    do throws(ValidationProblem) {
        let profile = try APIDecoder.decode(SeccompProfile.self, from: data)
        return profile.validate(context).map(\.description)
    } catch {
        return [error.description]
    }
}
