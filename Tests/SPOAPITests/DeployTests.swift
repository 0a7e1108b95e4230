import Foundation
import KubeModels
import SPOAPI
import SPOManifests
import Testing

@Suite struct DeployTests {
    let deployDirectory = examplesDirectory.deletingLastPathComponent().appendingPathComponent("deploy")

    func bundle() throws -> [JSONValue] {
        try documents(yaml: String(contentsOf: deployDirectory.appendingPathComponent("operator.yaml"), encoding: .utf8))
    }

    func object(_ documents: [JSONValue], kind: String, name: String) throws -> JSONValue {
        try #require(documents.first { $0["kind"]?.stringValue == kind && $0[path: ["metadata", "name"]]?.stringValue == name }, "\(kind)/\(name)")
    }

    @Test func operatorYAMLInstallsEverythingInTheOperatorNamespace() throws {
        let documents = try bundle()
        let kinds = documents.compactMap { $0["kind"]?.stringValue }
        #expect(kinds.first == "Namespace", "the namespace comes first")
        #expect(kinds.filter { $0 == "CustomResourceDefinition" }.count == 8)
        #expect(Set(kinds) == ["Namespace", "CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service"])
        for document in documents where !["Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"].contains(document["kind"]?.stringValue ?? "") {
            #expect(document[path: ["metadata", "namespace"]]?.stringValue == "security-profiles-operator", "\(document["kind"]?.stringValue ?? "")")
        }
        for document in documents {
            #expect(document[path: ["metadata", "labels", "app"]]?.stringValue == "security-profiles-operator")
        }
    }

    @Test func managerDeploymentRunsTwoRestrictedReplicasWithProbes() throws {
        let documents = try bundle()
        let deployment = try object(documents, kind: "Deployment", name: "security-profiles-operator")
        let pod = try #require(deployment[path: ["spec", "template", "spec"]])
        #expect(deployment[path: ["spec", "replicas"]] == 2)
        let account = try #require(pod["serviceAccountName"]?.stringValue)
        _ = try object(documents, kind: "ServiceAccount", name: account)
        let container = try #require(pod["containers"]?.arrayValue?.first)
        #expect(container["args"] == ["manager"])
        #expect(container[path: ["livenessProbe", "httpGet", "path"]] == "/healthz")
        #expect(container[path: ["readinessProbe", "httpGet", "path"]] == "/readyz")
        #expect(container["ports"]?.arrayValue?.first?["containerPort"] == 8081, "the manager's default --health-probe-port")
        #expect(container[path: ["resources", "requests"]] == ["cpu": "250m", "memory": "50Mi"])
        #expect(container[path: ["securityContext", "allowPrivilegeEscalation"]] == false)
        #expect(container[path: ["securityContext", "capabilities", "drop"]] == ["ALL"])
        #expect(container[path: ["securityContext", "readOnlyRootFilesystem"]] == true)
        #expect(pod[path: ["securityContext", "runAsNonRoot"]] == true)
        #expect(pod[path: ["securityContext", "seccompProfile", "type"]] == "RuntimeDefault")
        let environment = container["env"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(environment.contains("OPERATOR_NAMESPACE"))
    }

    @Test func bindingsReferToObjectsTheBundleCreates() throws {
        let documents = try bundle()
        for binding in documents where ["RoleBinding", "ClusterRoleBinding"].contains(binding["kind"]?.stringValue ?? "") {
            let roleKind = try #require(binding[path: ["roleRef", "kind"]]?.stringValue)
            _ = try object(documents, kind: roleKind, name: try #require(binding[path: ["roleRef", "name"]]?.stringValue))
        }
        let metrics = try object(documents, kind: "ClusterRole", name: "spo-metrics-client")
        #expect(metrics["rules"] == [["nonResourceURLs": ["/metrics", "/metrics-spod"], "verbs": ["get"]]])
        let metricsBinding = try object(documents, kind: "ClusterRoleBinding", name: "spo-metrics-client")
        #expect(metricsBinding["subjects"] == [["kind": "ServiceAccount", "name": "default", "namespace": "security-profiles-operator"]])
    }

    @Test func defaultSpodManifestIsValidForItsCRD() throws {
        let spod = try #require(try documents(yaml: String(contentsOf: deployDirectory.appendingPathComponent("spod.yaml"), encoding: .utf8)).first)
        #expect(SchemaValidator.validate(spod, against: CRDs.securityProfilesOperatorDaemon.schema).isEmpty)
        let decoded = try APIDecoder.decode(SecurityProfilesOperatorDaemon.self, from: try spod.encoded())
        #expect(decoded == SecurityProfilesOperatorDaemon.defaultObject(namespace: "security-profiles-operator", staticWebhookConfig: false))
    }

    @Test func kustomizationListsEveryFileOfTheBundle() throws {
        let kustomization = try #require(try documents(yaml: String(contentsOf: deployDirectory.appendingPathComponent("kustomization.yaml"), encoding: .utf8)).first)
        let resources = kustomization["resources"]?.arrayValue?.compactMap(\.stringValue) ?? []
        for resource in resources {
            #expect(FileManager.default.fileExists(atPath: deployDirectory.appendingPathComponent(resource).path), "\(resource)")
        }
        #expect(resources.filter { $0.hasPrefix("crds/") }.count == CRDs.all.count)
    }
}
