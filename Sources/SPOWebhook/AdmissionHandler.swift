import CoreMetrics
import Foundation
import KubeModels
import KubeRuntime
import Logging
import SPOAPI
import SPOWebhookKit

/// The two mutating webhooks behind their paths: decodes the AdmissionReview, decides from the
/// ``AdmissionCache``, answers in the version asked. Only pod CREATEs are mutated; every other
/// operation is admitted unchanged (bookkeeping is the manager's trackers' job).
public final class AdmissionHandler: Sendable {
    /// Which webhook a path serves.
    public enum Webhook: String, Sendable, CaseIterable {
        case binding = "/mutate-v1-pod-binding"
        case recording = "/mutate-v1-pod-recording"

        var name: String { self == .binding ? "binding.spo.io" : "recording.spo.io" }
    }

    /// An HTTP answer.
    public struct Reply: Sendable {
        public var status: Int
        public var body: [UInt8]
        public var contentType: String
    }

    let cache: AdmissionCache
    let operatorNamespace: String
    let events: EventQueue
    let logger: Logger
    let now: @Sendable () -> Date
    let liveReadTimeout: Duration
    /// The deadlines of this handler's requests; the ``WebhookServer`` serving it sweeps them.
    let deadlines = RequestDeadlines()
    private let requests: [Webhook: (Counter, CoreMetrics.Timer)]

    public init(
        cache: AdmissionCache, operatorNamespace: String, events: EventQueue, logger: Logger, metricsFactory: (any MetricsFactory)? = nil,
        liveReadTimeout: Duration = .seconds(3), now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.cache = cache
        self.operatorNamespace = operatorNamespace
        self.events = events
        self.logger = logger
        self.now = now
        self.liveReadTimeout = liveReadTimeout
        let factory = metricsFactory ?? MetricsSystem.factory
        var requests: [Webhook: (Counter, CoreMetrics.Timer)] = [:]
        for webhook in Webhook.allCases {
            requests[webhook] = (
                Counter(label: "controller_runtime_webhook_requests_total", dimensions: [("webhook", webhook.rawValue)], factory: factory),
                CoreMetrics.Timer(label: "controller_runtime_webhook_latency_seconds", dimensions: [("webhook", webhook.rawValue)], factory: factory))
        }
        self.requests = requests
    }

    /// The answer to one POST of `body` to `webhook`'s path.
    public func handle(_ webhook: Webhook, body: some Collection<UInt8>) async -> Reply {
        let start = ContinuousClock.now
        defer {
            requests[webhook]?.0.increment()
            requests[webhook]?.1.recordNanoseconds((ContinuousClock.now - start).nanoseconds)
        }
        let version: String
        let request: AdmissionRequest
        do {
            (version, request) = try AdmissionCodec.decode(body)
        } catch {
            logger.info("webhook.request.malformed", metadata: ["webhook": "\(webhook.name)", "error": "\(error.message)"])
            return Reply(status: 400, body: Array("\(error.message)\n".utf8), contentType: "text/plain; charset=utf-8")
        }
        let response = await respond(webhook, request)
        return Reply(status: 200, body: AdmissionCodec.encode(response, version: version), contentType: "application/json")
    }

    private func respond(_ webhook: Webhook, _ request: AdmissionRequest) async -> AdmissionResponse {
        var metadata: Logger.Metadata = [
            "webhook": "\(webhook.name)", "admission.uid": "\(request.uid)", "admission.operation": "\(request.operation ?? "")",
            "k8s.namespace": "\(request.namespace ?? "")",
        ]
        guard request.kind?.kind == "Pod" || request.resource?.resource == "pods" else {
            return AdmissionCodec.deny(uid: request.uid, code: 400, message: "\(webhook.name) handles pods only, not \(request.kind?.kind ?? request.resource?.resource ?? "this object")")
        }
        guard request.operation == "CREATE", let pod = request.object, let namespace = request.namespace, !namespace.isEmpty else {
            return AdmissionCodec.admit(uid: request.uid, original: request.object ?? .null, mutated: request.object ?? .null)
        }
        guard cache.hasSynced else {
            logger.warning("webhook.request.not_synced", metadata: metadata)
            return AdmissionCodec.deny(uid: request.uid, code: 500, message: "the security-profiles-operator webhook has not loaded ProfileBindings and ProfileRecordings from the API server yet (it cannot reach it, or it just started): retry in a moment, and see the webhook pods' logs if this persists")
        }
        let podName = request.name.flatMap { $0.isEmpty ? nil : $0 } ?? pod[path: ["metadata", "name"]]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            ?? pod[path: ["metadata", "generateName"]]?.stringValue ?? ""
        metadata["k8s.pod"] = "\(podName)"
        switch webhook {
        case .binding:
            return await bind(pod, namespace: namespace, request: request, metadata: metadata)
        case .recording:
            return record(pod, podName: podName, namespace: namespace, request: request, metadata: metadata)
        }
    }

    private func bind(_ pod: JSONValue, namespace: String, request: AdmissionRequest, metadata: Logger.Metadata) async -> AdmissionResponse {
        let bindings = cache.bindings.store.list(namespace: namespace)
        guard !bindings.isEmpty else { return AdmissionCodec.admit(uid: request.uid, original: pod, mutated: pod) }
        // The cache answers; a profile it lacks is read once from the API (it may be moments old).
        var confirmed: [String: BoundProfileState] = [:]
        var failure: String?
        func lookup(_ kind: BoundProfileKind, _ name: String) -> BoundProfileState {
            confirmed["\(kind.rawValue)/\(name)"] ?? cache.cachedState(kind, name: name, namespace: namespace)
        }
        var decision = BindingMutation.decide(pod: pod, namespace: namespace, bindings: bindings, profile: lookup)
        if case .deny = decision {
            for binding in bindings {
                guard let kind = binding.spec?.profileRef?.kind, let name = binding.spec?.profileRef?.name else { continue }
                guard case .missing = cache.cachedState(kind, name: name, namespace: namespace) else { continue }
                do {
                    confirmed["\(kind.rawValue)/\(name)"] = try await deadlines.run(within: liveReadTimeout) { try await self.cache.liveState(kind, name: name, namespace: namespace) }
                } catch {
                    failure = "cannot read \(kind.rawValue) \(namespace)/\(name) from the API server (\(error)): retry in a moment"
                }
            }
            if let failure { return AdmissionCodec.deny(uid: request.uid, code: 500, message: failure) }
            decision = BindingMutation.decide(pod: pod, namespace: namespace, bindings: bindings, profile: lookup)
        }
        switch decision {
        case .admit(let mutated, let applied):
            if !applied.isEmpty {
                logger.info("webhook.binding.applied", metadata: metadata.merging(["bindings": "\(applied.joined(separator: ","))"]) { $1 })
            }
            return AdmissionCodec.admit(uid: request.uid, original: pod, mutated: mutated)
        case .deny(let message):
            logger.info("webhook.binding.denied", metadata: metadata.merging(["reason": "\(message)"]) { $1 })
            return AdmissionCodec.deny(uid: request.uid, code: 403, message: message)
        }
    }

    private func record(_ pod: JSONValue, podName: String, namespace: String, request: AdmissionRequest, metadata: Logger.Metadata) -> AdmissionResponse {
        let recordings = cache.recordings.store.list(namespace: namespace)
        guard !recordings.isEmpty else { return AdmissionCodec.admit(uid: request.uid, original: pod, mutated: pod) }
        let outcome = RecordingMutation.mutate(
            pod: pod, podName: podName, recordings: recordings, operatorNamespace: operatorNamespace,
            now: Int64(now().timeIntervalSince1970), nonce: Self.nonce)
        if request.dryRun != true {
            // A dry run changes nothing, events included.
            for warning in outcome.warnings {
                guard let recording = recordings.first(where: { $0.metadata.name == warning.recording }) else { continue }
                events.record(recording, type: .warning, reason: warning.reason, message: warning.message)
            }
        }
        if !outcome.recordings.isEmpty {
            logger.info("webhook.recording.applied", metadata: metadata.merging(["recordings": "\(outcome.recordings.joined(separator: ","))"]) { $1 })
        }
        return AdmissionCodec.admit(uid: request.uid, original: pod, mutated: outcome.pod)
    }

    /// Five random lower-case alphanumeric characters.
    static func nonce() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<5).map { _ in alphabet.randomElement()! })
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
