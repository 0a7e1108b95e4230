import KubeModels
import Testing

/// The patch a webhook answers with: applying it to the original gives the mutated object.
@Suite struct JSONPatchDiffTests {
    static let cases: [(String, JSONValue, JSONValue)] = [
        ("equal", ["a": 1, "b": ["c": [1, 2]]], ["a": 1, "b": ["c": [1, 2]]]),
        ("added member", ["a": 1], ["a": 1, "b": ["c": "d"]]),
        ("removed member", ["a": 1, "b": 2], ["a": 1]),
        ("changed scalar", ["a": 1], ["a": "one"]),
        ("nested", ["spec": ["containers": [["name": "c", "image": "i"]]]], ["spec": ["containers": [["name": "c", "image": "i", "securityContext": ["seccompProfile": ["type": "Localhost"]]]]]]),
        ("array grows", ["a": [1]], ["a": [1, 2]]),
        ("array shrinks", ["a": [1, 2, 3]], ["a": [1]]),
        ("escaped keys", ["metadata": ["annotations": ["x": "1"]]], ["metadata": ["annotations": ["x": "1", "io.containers.trace-logs/nginx": "r_nginx_abcde_1", "a~b": "2"]]]),
        ("object to null", ["a": ["b": 1]], ["a": nil]),
    ]

    @Test(arguments: cases.indices)
    func applyingThePatchGivesTheGoal(index: Int) throws {
        let (name, source, goal) = Self.cases[index]
        let patch = source.jsonPatch(to: goal)
        #expect(try source.applyingJSONPatch(.array(patch)) == goal, "\(name): \(patch)")
        if source == goal { #expect(patch.isEmpty) }
    }

    @Test func patchesTouchOnlyWhatChanged() {
        let source: JSONValue = ["metadata": ["name": "p", "annotations": ["keep": "1"]], "spec": ["containers": [["name": "a"], ["name": "b"]]]]
        var goal = source
        goal[path: ["metadata", "annotations"]] = ["keep": "1", "io.containers.trace-logs/b": "v"]
        #expect(source.jsonPatch(to: goal) == [["op": "add", "path": "/metadata/annotations/io.containers.trace-logs~1b", "value": "v"]])
    }
}

@Suite struct LabelSelectorMatchTests {
    @Test func everyOperator() {
        let labels = ["app": "web", "tier": "front"]
        #expect(LabelSelector().matches(labels) && LabelSelector().matches([:]))
        #expect(LabelSelector(matchLabels: ["app": "web"]).matches(labels))
        #expect(!LabelSelector(matchLabels: ["app": "db"]).matches(labels))
        func expression(_ key: String, _ op: String, _ values: [String]? = nil) -> LabelSelector {
            LabelSelector(matchExpressions: [LabelSelectorRequirement(key: key, operator: op, values: values)])
        }
        #expect(expression("tier", "In", ["front", "back"]).matches(labels))
        #expect(!expression("tier", "In", ["back"]).matches(labels) && !expression("zone", "In", ["a"]).matches(labels))
        #expect(expression("tier", "NotIn", ["back"]).matches(labels) && expression("zone", "NotIn", ["a"]).matches(labels))
        #expect(!expression("tier", "NotIn", ["front"]).matches(labels))
        #expect(expression("app", "Exists").matches(labels) && !expression("zone", "Exists").matches(labels))
        #expect(expression("zone", "DoesNotExist").matches(labels) && !expression("app", "DoesNotExist").matches(labels))
        #expect(!expression("app", "Gt", ["1"]).matches(labels), "an operator the API does not know matches nothing")
        #expect(!LabelSelector(matchLabels: ["app": "web"], matchExpressions: [LabelSelectorRequirement(key: "zone", operator: "Exists")]).matches(labels))
    }
}
