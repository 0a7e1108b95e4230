import Foundation
import KubeClient
import KubeModels
import KubeTestServer
import SPOAPI
import Testing

/// The user-facing flows through a real HTTP API server: `kubectl apply` of the examples and
/// `kubectl patch spod spod --type merge -p ...`.
@Suite struct APIServerTests {
    static let resources = TestResource.builtIn + CRDs.all.map { TestResource($0.resource, statusSubresource: $0.statusSubresource) }

    @Test(arguments: [
        "allowed-syscalls", "memory-optimization", "daemon-resources", "priority-class", "log-enricher",
        "recording-webhook-object-selector",
    ])
    func kubectlPatchSpodMergeWorksUnchanged(name: String) async throws {
        let patch = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: examplesDirectory.appendingPathComponent("spod-patches/\(name).json")))
        try await KubeTestServer.withServer(resources: Self.resources) { server in
            try await KubernetesClient.withClient(configuration: server.clientConfiguration()) { client in
                let spods = client.resource(SecurityProfilesOperatorDaemon.self)
                let original = try await spods.create(SecurityProfilesOperatorDaemon.defaultObject(namespace: "security-profiles-operator", staticWebhookConfig: false))
                let patched = try await spods.patch("spod", namespace: "security-profiles-operator", patch: .merge(patch))
                #expect(patched.validate().isEmpty)
                #expect(patched.metadata.generation == 2, "a spec change bumps the generation the manager reconciles on")
                // Exactly the patched field changed.
                let before = try JSONValue(encoding: original.spec)
                let after = try JSONValue(encoding: patched.spec)
                #expect(before.mergePatch(to: after) == patch["spec"])
            }
        }
    }

    @Test func everyExampleCanBeCreatedAndReadBackUnchanged() async throws {
        try await KubeTestServer.withServer(resources: Self.resources) { server in
            try await KubernetesClient.withClient(configuration: server.clientConfiguration()) { client in
                for (file, json) in try exampleDocuments() {
                    let kind = json["kind"]?.stringValue ?? ""
                    let crd = try #require(CRDs.all.first { $0.resource.kind == kind })
                    let created = try await client.dynamic(crd.resource).create(json, namespace: json[path: ["metadata", "namespace"]]?.stringValue)
                    var stored = created
                    stored["metadata"] = json["metadata"]
                    if crd.statusSubresource { stored["status"] = json["status"] }
                    #expect(stored == json, "\(file)")
                    #expect(try decodeObject(created).validate().isEmpty, "\(file)")
                }
            }
        }
    }
}
