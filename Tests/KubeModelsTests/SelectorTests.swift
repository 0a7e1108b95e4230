import Foundation
import KubeModels
import Testing

@Suite struct SelectorTests {
    static let labels = ["app": "web", "tier": "front", "env": "prod"]

    static let cases: [(String, Bool)] = [
        ("", true),
        ("app=web", true),
        ("app==web", true),
        ("app=db", false),
        ("app!=db", true),
        ("app=web,tier=front", true),
        ("app=web,tier=back", false),
        ("tier in (front, back)", true),
        ("tier in (back)", false),
        ("tier notin (back)", true),
        ("missing notin (x)", true),
        ("env", true),
        ("!env", false),
        ("!missing", true),
        ("app=web, env in (prod,staging), !canary", true),
    ]

    @Test(arguments: cases)
    func matching(selector: String, expected: Bool) throws {
        #expect(try Selector(parsing: selector).matches(Self.labels) == expected)
    }

    @Test func fieldSelectorsRejectSetSyntax() throws {
        #expect(throws: Selector.ParseError.self) { try Selector(parsing: "a in (b)", allowSetBased: false) }
        #expect(throws: Selector.ParseError.self) { try Selector(parsing: "tier in front") }
        #expect(throws: Selector.ParseError.self) { try Selector(parsing: "bad key=1") }
        #expect(try Selector(parsing: "metadata.name=x", allowSetBased: false).keys == ["metadata.name"])
    }

    @Test func structuredSelectorRendersQueryForm() throws {
        let selector = LabelSelector(
            matchLabels: ["b": "2", "a": "1"],
            matchExpressions: [
                LabelSelectorRequirement(key: "t", operator: "In", values: ["y", "x"]),
                LabelSelectorRequirement(key: "u", operator: "DoesNotExist"),
            ])
        #expect(selector.selectorString == "a=1,b=2,t in (x,y),!u")
        #expect(try Selector(parsing: selector.selectorString).matches(["a": "1", "b": "2", "t": "x"]))
    }
}

@Suite struct MetaTests {
    @Test func timeFormats() throws {
        let date = Date(timeIntervalSince1970: 1_700_000_000.123456)
        #expect(KubeTime.format(date) == "2023-11-14T22:13:20Z")
        #expect(KubeTime.formatMicro(date) == "2023-11-14T22:13:20.123456Z")
        let parsed = try #require(KubeTime.parse("2023-11-14T22:13:20.123456Z"))
        #expect(abs(parsed.timeIntervalSince1970 - 1_700_000_000.123456) < 0.001)
        #expect(KubeTime.parse("2023-11-14T22:13:20Z") == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(KubeTime.parse("yesterday") == nil)
    }

    @Test func objectKeysAndResources() {
        #expect(ObjectKey("ns/name") == ObjectKey(namespace: "ns", name: "name"))
        #expect(ObjectKey("cluster-wide").namespace == nil)
        #expect(ObjectKey(namespace: "", name: "x").description == "x")
        #expect(Lease.resource.qualifiedResource == "leases.coordination.k8s.io")
        #expect(Pod.resource.apiVersion == "v1")
        #expect(Lease.apiVersion == "coordination.k8s.io/v1")
    }

    @Test func listDecodesNullItems() throws {
        let list = try JSONDecoder().decode(KubeList<Pod>.self, from: Data(#"{"kind":"PodList","metadata":{"resourceVersion":"5"},"items":null}"#.utf8))
        #expect(list.items.isEmpty)
        #expect(list.metadata.resourceVersion == "5")
    }
}
