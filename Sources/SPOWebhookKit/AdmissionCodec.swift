import Foundation
import KubeModels

/// Reading an AdmissionReview the API server posted and writing the answer in the version it
/// was asked in (`admission.k8s.io/v1` or `v1beta1`, which share their shape). Pure.
public enum AdmissionCodec {
    /// Why a request body is not an AdmissionReview this webhook can answer: a 400 for the caller.
    public struct BadReview: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// The review's version and request.
    public static func decode(_ body: some Collection<UInt8>) throws(BadReview) -> (version: String, request: AdmissionRequest) {
        let review: AdmissionReview
        do {
            review = try JSONDecoder().decode(AdmissionReview.self, from: Data(body))
        } catch {
            throw BadReview(message: "the body is not an AdmissionReview: \(Self.describe(error))")
        }
        let group = AdmissionReview.group + "/"
        guard let apiVersion = review.apiVersion, apiVersion.hasPrefix(group),
              AdmissionReview.versions.contains(String(apiVersion.dropFirst(group.count)))
        else {
            throw BadReview(message: "unsupported apiVersion \"\(review.apiVersion ?? "")\": expected admission.k8s.io/v1 or admission.k8s.io/v1beta1")
        }
        guard review.kind == "AdmissionReview" else { throw BadReview(message: "unsupported kind \"\(review.kind ?? "")\": expected AdmissionReview") }
        guard let request = review.request else { throw BadReview(message: "the AdmissionReview has no request") }
        guard !request.uid.isEmpty else { throw BadReview(message: "the AdmissionReview's request has no uid") }
        return (apiVersion, request)
    }

    /// The answer, as JSON bytes.
    public static func encode(_ response: AdmissionResponse, version: String) -> [UInt8] {
        let review = AdmissionReview(apiVersion: version, response: response)
        return (try? Array(JSONEncoder().encode(review))) ?? []
    }

    /// Admits: with the JSON patch from `original` to `mutated`, or `pod unchanged`.
    public static func admit(uid: String, original: JSONValue, mutated: JSONValue) -> AdmissionResponse {
        let patch = original.jsonPatch(to: mutated)
        if patch.isEmpty {
            return AdmissionResponse(uid: uid, allowed: true, result: Status(status: "Success", message: "pod unchanged", reason: nil, code: 200))
        }
        return AdmissionResponse(uid: uid, allowed: true, patch: patch)
    }

    /// Refuses, with the message a `kubectl` user sees after `admission webhook "…" denied the request:`.
    public static func deny(uid: String, code: Int, message: String) -> AdmissionResponse {
        let reason = code == 403 ? "Forbidden" : code >= 500 ? "InternalError" : "BadRequest"
        return AdmissionResponse(uid: uid, allowed: false, result: Status(status: "Failure", message: message, reason: reason, code: code))
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing \(path(context.codingPath + [key]))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at \(path(context.codingPath))"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "invalid value at \(path(context.codingPath))"
        default:
            return "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }
}
