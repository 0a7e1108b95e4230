import KubeModels
import Testing

@Suite struct MergePatchTests {
    /// The examples of RFC 7386, appendix A.
    static let rfcCases: [(original: JSONValue, patch: JSONValue, result: JSONValue)] = [
        (["a": "b"], ["a": "c"], ["a": "c"]),
        (["a": "b"], ["b": "c"], ["a": "b", "b": "c"]),
        (["a": "b"], ["a": nil], [:]),
        (["a": "b", "b": "c"], ["a": nil], ["b": "c"]),
        (["a": ["b"]], ["a": "c"], ["a": "c"]),
        (["a": "c"], ["a": ["b"]], ["a": ["b"]]),
        (["a": ["b": "c"]], ["a": ["b": "d", "c": nil]], ["a": ["b": "d"]]),
        (["a": [["b": "c"]]], ["a": [1]], ["a": [1]]),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        (["a": "b"], ["c"], ["c"]),
        (["a": "foo"], nil, nil),
        (["a": "foo"], "bar", "bar"),
        (["e": nil], ["a": 1], ["e": nil, "a": 1]),
        ([1, 2], ["a": "b", "c": nil], ["a": "b"]),
        ([:], ["a": ["bb": ["ccc": nil]]], ["a": ["bb": [:]]]),
    ]

    @Test(arguments: rfcCases.indices)
    func rfc7386Examples(index: Int) {
        let example = Self.rfcCases[index]
        #expect(example.original.applyingMergePatch(example.patch) == example.result)
    }

    @Test func computedPatchReproducesTarget() {
        let source: JSONValue = ["spec": ["a": 1, "b": ["c": true], "gone": "x"], "keep": "same"]
        let target: JSONValue = ["spec": ["a": 2, "b": ["c": true, "d": [1, 2]]], "keep": "same", "new": 1.5]
        let patch = source.mergePatch(to: target)
        #expect(source.applyingMergePatch(patch) == target)
        #expect(patch["keep"] == nil, "unchanged members are not in the patch")
        #expect(patch[path: ["spec", "gone"]] == .null, "removed members are nulled")
    }
}

@Suite struct JSONPatchTests {
    let document: JSONValue = ["metadata": ["labels": ["a": "1"], "finalizers": ["x", "y"]], "spec": ["n": 3]]

    @Test func addReplaceRemoveMoveCopyTest() throws {
        let patch: JSONValue = [
            ["op": "add", "path": "/metadata/labels/b", "value": "2"],
            ["op": "replace", "path": "/spec/n", "value": 4],
            ["op": "remove", "path": "/metadata/finalizers/0"],
            ["op": "add", "path": "/metadata/finalizers/-", "value": "z"],
            ["op": "copy", "from": "/spec/n", "path": "/spec/m"],
            ["op": "move", "from": "/metadata/labels/a", "path": "/metadata/labels/c"],
            ["op": "test", "path": "/spec/m", "value": 4.0],
        ]
        let result = try document.applyingJSONPatch(patch)
        #expect(result == ["metadata": ["labels": ["b": "2", "c": "1"], "finalizers": ["y", "z"]], "spec": ["n": 4, "m": 4]])
    }

    @Test func escapedPointerTokens() throws {
        let doc: JSONValue = ["metadata": ["annotations": ["example.com/a~b": "1"]]]
        let result = try doc.applyingJSONPatch([["op": "replace", "path": "/metadata/annotations/example.com~1a~0b", "value": "2"]])
        #expect(result[path: ["metadata", "annotations", "example.com/a~b"]] == "2")
    }

    static let failures: [(JSONValue, String)] = [
        ([["op": "remove", "path": "/spec/missing"]], "does not exist"),
        ([["op": "test", "path": "/spec/n", "value": 9]], "test failed"),
        ([["op": "frobnicate", "path": "/spec"]], "unknown op"),
        ([["path": "/spec"]], "missing \"op\""),
        ([["op": "add", "path": "spec/x", "value": 1]], "must start with /"),
        ([["op": "add", "path": "/metadata/finalizers/7", "value": "q"]], "bad array index"),
        ([["op": "move", "from": "/spec", "path": "/spec/inner"]], "into itself"),
        (["op": "add"], "must be an array"),
    ]

    @Test(arguments: failures.indices)
    func invalidPatchesFailWithReason(index: Int) {
        let (patch, fragment) = Self.failures[index]
        #expect {
            _ = try document.applyingJSONPatch(patch)
        } throws: { error in
            (error as? JSONPatchError)?.description.contains(fragment) == true
        }
    }

    @Test func failedPatchAppliesNothing() {
        let patch: JSONValue = [["op": "replace", "path": "/spec/n", "value": 100], ["op": "remove", "path": "/nope"]]
        #expect(throws: JSONPatchError.self) { try document.applyingJSONPatch(patch) }
        #expect(document[path: ["spec", "n"]] == 3)
    }
}

@Suite struct JSONValueTests {
    @Test func roundTripKeepsIntegersExact() throws {
        let text = #"{"big":9007199254740993,"f":1.5,"s":"x","b":false,"n":null,"a":[1,{"k":"v"}]}"#
        let value = try JSONValue.decode(Array(text.utf8))
        #expect(value["big"] == .int(9_007_199_254_740_993))
        #expect(value["f"] == .double(1.5))
        #expect(value["b"] == .bool(false))
        #expect(value["n"] == .null)
        let again = try JSONValue.decode(try value.encoded())
        #expect(again == value)
    }

    @Test func pathSubscriptCreatesAndRemoves() {
        var value: JSONValue = [:]
        value[path: ["metadata", "labels", "app"]] = "x"
        #expect(value == ["metadata": ["labels": ["app": "x"]]])
        value[path: ["metadata", "labels", "app"]] = nil
        #expect(value == ["metadata": ["labels": [:]]])
    }

    @Test func typedRoundTripThroughJSONValue() throws {
        let configMap = ConfigMap(metadata: ObjectMeta(name: "c", namespace: "ns", labels: ["a": "b"]), data: ["k": "v"])
        let value = try JSONValue(encoding: configMap)
        #expect(value["kind"] == "ConfigMap")
        #expect(try value.decode(as: ConfigMap.self) == configMap)
    }
}
