import Foundation
import KubeModels
import SPOWebhookKit
import Testing

@Suite struct AdmissionCodecTests {
    func review(_ version: String, operation: String = "CREATE", uid: String = "u-1") -> [UInt8] {
        Array(#"{"apiVersion":"admission.k8s.io/\#(version)","kind":"AdmissionReview","request":{"uid":"\#(uid)","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"apps","operation":"\#(operation)","object":{"metadata":{"name":"p"}}}}"#.utf8)
    }

    @Test(arguments: ["v1", "v1beta1"])
    func theAnswerIsInTheVersionAsked(version: String) throws {
        let (asked, request) = try AdmissionCodec.decode(review(version))
        #expect(asked == "admission.k8s.io/\(version)" && request.uid == "u-1" && request.operation == "CREATE")
        let bytes = AdmissionCodec.encode(AdmissionCodec.admit(uid: request.uid, original: ["a": 1], mutated: ["a": 1]), version: asked)
        let answer = try JSONDecoder().decode(AdmissionReview.self, from: Data(bytes))
        #expect(answer.apiVersion == asked && answer.kind == "AdmissionReview")
        #expect(answer.response?.uid == "u-1" && answer.response?.allowed == true && answer.response?.patch == nil)
        #expect(answer.response?.result?.message == "pod unchanged")
    }

    @Test func aMutationIsABase64JSONPatch() throws {
        let response = AdmissionCodec.admit(uid: "u", original: ["metadata": ["name": "p"]], mutated: ["metadata": ["name": "p", "labels": ["x": "y"]]])
        #expect(response.allowed && response.patchType == "JSONPatch")
        #expect(try response.patchOperations() == [["op": "add", "path": "/metadata/labels", "value": ["x": "y"]]])
        let denied = AdmissionCodec.deny(uid: "u", code: 403, message: "no")
        #expect(!denied.allowed && denied.result?.code == 403 && denied.result?.message == "no" && denied.result?.reason == "Forbidden")
    }

    @Test func malformedReviewsAreRefusedWithAReason() {
        let cases: [(String, String)] = [
            ("not json", "the body is not an AdmissionReview: not valid JSON"),
            (#"{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"x"}}"#, "unsupported apiVersion \"admission.k8s.io/v2\""),
            (#"{"apiVersion":"admission.k8s.io/v1","kind":"Review","request":{"uid":"x"}}"#, "unsupported kind \"Review\""),
            (#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#, "has no request"),
            (#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}"#, "has no uid"),
            (#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}"#, "missing request.uid"),
            (#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}"#, "wrong type at request.uid"),
        ]
        for (body, expected) in cases {
            do {
                _ = try AdmissionCodec.decode(Array(body.utf8))
                Issue.record("accepted: \(body)")
            } catch {
                #expect(error.message.contains(expected), "\(body): \(error.message)")
            }
        }
    }
}
