import Foundation
import KubeModels
import SPOAPI
import SPOManifests
import Testing

@Suite struct CRDTests {
    let deployDirectory = examplesDirectory.deletingLastPathComponent().appendingPathComponent("deploy")

    func crd(for kind: String) throws -> CRDDefinition {
        try #require(CRDs.all.first { $0.resource.kind == kind })
    }

    @Test func committedCRDsAreWhatTheGeneratorPrints() throws {
        #expect(try Manifests.stale(in: deployDirectory) == [], "run `make manifests` and commit deploy/crds")
    }

    @Test func renderedYAMLReadsBackAsTheSameObject() throws {
        for crd in CRDs.all {
            let yaml = try YAMLRenderer.render(crd.json)
            #expect(try documents(yaml: yaml) == [crd.json], "\(crd.fileName)")
        }
    }

    @Test func namesScopesShortNamesAndColumnsFollowTheReference() throws {
        let expected: [(kind: String, version: String, shortNames: [String], status: Bool, columns: [String])] = [
            ("SeccompProfile", "v1beta1", ["sp"], true, ["Status", "Age", "LocalhostProfile"]),
            ("SelinuxProfile", "v1alpha2", [], true, ["Usage", "State"]),
            ("RawSelinuxProfile", "v1alpha2", [], true, ["Usage", "State"]),
            ("AppArmorProfile", "v1alpha1", ["aa"], true, []),
            ("ProfileRecording", "v1alpha1", [], true, ["PodSelector"]),
            ("ProfileBinding", "v1alpha1", [], true, []),
            ("SecurityProfilesOperatorDaemon", "v1alpha1", ["spod"], true, ["State"]),
            ("SecurityProfileNodeStatus", "v1alpha1", ["spns"], false, ["Status", "Age", "Node"]),
        ]
        #expect(CRDs.all.map(\.resource.kind) == expected.map(\.kind))
        for entry in expected {
            let crd = try crd(for: entry.kind)
            #expect(crd.resource.group == "security-profiles-operator.x-k8s.io")
            #expect(crd.resource.version == entry.version)
            #expect(crd.resource.namespaced)
            #expect(crd.shortNames == entry.shortNames)
            #expect(crd.statusSubresource == entry.status)
            #expect(crd.printerColumns.map(\.name) == entry.columns)
            #expect(crd.json["spec"]?["scope"] == "Namespaced")
        }
        #expect(try crd(for: "SeccompProfile").printerColumns.last?.priority == 10)
    }

    /// The upstream v0.8 AppArmorProfile CRD declared `status` as a bare object, so the API server
    /// pruned every status field and the profile never became ready.
    @Test func appArmorStatusIsDeclaredSoItIsNotPruned() throws {
        let schema = try crd(for: "AppArmorProfile").schema
        let status: JSONValue = ["status": "Installed", "conditions": [["type": "Ready", "status": "True", "lastTransitionTime": "2026-11-23T10:00:00Z", "reason": "Available"]]]
        let object: JSONValue = ["apiVersion": "security-profiles-operator.x-k8s.io/v1alpha1", "kind": "AppArmorProfile", "metadata": ["name": "a"], "spec": ["policy": "profile a {}"], "status": status]
        #expect(SchemaValidator.validate(object, against: schema).isEmpty)
        #expect(schema.properties?["status"]?.properties?.keys.sorted() == ["conditions", "status"])
    }

    @Test func everyExampleIsAcceptedByItsCRDWithoutPruning() throws {
        for (file, json) in try exampleDocuments() {
            let crd = try crd(for: json["kind"]?.stringValue ?? "")
            let problems = SchemaValidator.validate(json, against: crd.schema)
            #expect(problems.isEmpty, "\(file): \(problems)")
        }
    }

    @Test(arguments: [
        "allowed-syscalls", "memory-optimization", "daemon-resources", "priority-class", "log-enricher",
        "recording-webhook-object-selector",
    ])
    func spodPatchesKeepTheObjectValidForTheCRD(name: String) throws {
        let patch = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: examplesDirectory.appendingPathComponent("spod-patches/\(name).json")))
        let spod = try JSONValue(encoding: SecurityProfilesOperatorDaemon.defaultObject(namespace: "security-profiles-operator", staticWebhookConfig: false))
        let problems = SchemaValidator.validate(spod.applyingMergePatch(patch), against: try crd(for: "SecurityProfilesOperatorDaemon").schema)
        #expect(problems.isEmpty, "\(problems)")
    }

    @Test func schemaValidatorReportsWhatTheAPIServerWouldReject() throws {
        let schema = try crd(for: "SeccompProfile").schema
        let object = try #require(try documents(yaml: """
            apiVersion: security-profiles-operator.x-k8s.io/v1beta1
            kind: SeccompProfile
            metadata: {name: p}
            spec:
              defaultActon: SCMP_ACT_LOG
              architectures: [SCMP_ARCH_Z80]
              disabled: "no"
              syscalls:
                - names: [read]
                  action: SCMP_ACT_ALLOW
                  errnoRet: -1
                  args: [{index: 0, op: SCMP_CMP_EQ}, {index: 1, op: SCMP_CMP_EQ}, {index: 2, op: SCMP_CMP_EQ}, {index: 3, op: SCMP_CMP_EQ}, {index: 4, op: SCMP_CMP_EQ}, {index: 5, op: SCMP_CMP_EQ}, {index: 5, op: SCMP_CMP_EQ}]
            """).first)
        let problems = SchemaValidator.validate(object, against: schema).map { "\($0.field): \($0.reason.rawValue)" }
        #expect(problems == [
            "spec.defaultAction: Required value",
            "spec.architectures[0]: Unsupported value",
            "spec.defaultActon: Unknown field",
            "spec.disabled: Invalid type",
            "spec.syscalls[0].args: Too many",
            "spec.syscalls[0].errnoRet: Invalid value",
        ])
    }

    /// Structural-schema rules the API server enforces on CRDs: every node typed (or
    /// int-or-string / preserve-unknown-fields), required fields declared, defaults valid.
    @Test func generatedSchemasAreStructural() throws {
        func check(_ schema: Schema, at path: String, into problems: inout [String]) {
            if schema.type == nil, !schema.intOrString, !schema.preserveUnknownFields { problems.append("\(path): no type") }
            for name in schema.required ?? [] where schema.properties?[name] == nil { problems.append("\(path): required \(name) is not a property") }
            if let value = schema.defaultValue, !SchemaValidator.validate(value, against: schema).isEmpty { problems.append("\(path): invalid default") }
            if schema.type == "array", schema.items == nil { problems.append("\(path): array without items") }
            for (name, property) in schema.properties ?? [:] { check(property, at: "\(path).\(name)", into: &problems) }
            if let items = schema.items?.first { check(items, at: "\(path)[]", into: &problems) }
            if let values = schema.additionalProperties?.first { check(values, at: "\(path){}", into: &problems) }
        }
        var problems: [String] = []
        for crd in CRDs.all { check(crd.schema, at: crd.resource.kind, into: &problems) }
        #expect(problems == [])
    }
}
