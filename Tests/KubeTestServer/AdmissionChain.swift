import Foundation
import KubeModels
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Mutating admission for pods, as kube-apiserver runs it: for a pod CREATE, UPDATE or DELETE,
/// every stored MutatingWebhookConfiguration's webhooks whose rules, namespace selector and
/// object selector match are called in order with an AdmissionReview (the first of their
/// `admissionReviewVersions` this server speaks), over HTTPS verified against their `caBundle`
/// (for a Service, the name `<service>.<namespace>.svc`), within `timeoutSeconds`. A denial
/// rejects the request with the webhook's code and message; a JSON patch changes the object;
/// a failed call rejects (`failurePolicy: Fail`) or is skipped (`Ignore`).
final class AdmissionChain: Sendable {
    /// Where a Service's port 443 is served in the test (the webhook server's loopback port).
    let services = Mutex<[String: Int]>([:])
    /// Every call made: webhook name and outcome, for assertions.
    let calls = Mutex<[(webhook: String, outcome: String)]>([])

    enum Outcome {
        case admitted(JSONValue?)
        case rejected(APIFailure)
    }

    /// Runs the chain for one request; `object` is the new pod (nil for DELETE), `oldObject`
    /// the stored one (nil for CREATE).
    func admit(
        operation: String, namespace: String, name: String?, object: JSONValue?, oldObject: JSONValue?, dryRun: Bool,
        configurations: [JSONValue], namespaceLabels: [String: String]
    ) async -> Outcome {
        var current = object
        for configuration in configurations {
            guard let typed = try? configuration.decode(as: MutatingWebhookConfiguration.self) else { continue }
            for webhook in typed.webhooks ?? [] {
                guard applies(webhook, operation: operation, object: current, oldObject: oldObject, namespaceLabels: namespaceLabels) else { continue }
                let failOpen = webhook.failurePolicy == "Ignore"
                do {
                    let response = try await call(webhook, operation: operation, namespace: namespace, name: name, object: current, oldObject: oldObject, dryRun: dryRun)
                    if !response.allowed {
                        calls.withLock { $0.append((webhook.name, "denied")) }
                        let code = response.result?.code ?? 403
                        let message = "admission webhook \"\(webhook.name)\" denied the request: \(response.result?.message ?? "")"
                        return .rejected(APIFailure(code: code, reason: response.result?.reason ?? "Forbidden", message: message))
                    }
                    let operations = try response.patchOperations()
                    if !operations.isEmpty, let value = current {
                        do {
                            current = try value.applyingJSONPatch(.array(operations))
                        } catch {
                            throw CallFailure(message: "the webhook's JSON patch does not apply: \(error)")
                        }
                    }
                    calls.withLock { $0.append((webhook.name, operations.isEmpty ? "unchanged" : "patched")) }
                } catch {
                    calls.withLock { $0.append((webhook.name, failOpen ? "ignored: \(error)" : "failed: \(error)")) }
                    if failOpen { continue }
                    return .rejected(APIFailure(
                        code: 500, reason: "InternalError",
                        message: "Internal error occurred: failed calling webhook \"\(webhook.name)\": failed to call webhook: \(error)"))
                }
            }
        }
        return .admitted(current)
    }

    private func applies(_ webhook: MutatingWebhook, operation: String, object: JSONValue?, oldObject: JSONValue?, namespaceLabels: [String: String]) -> Bool {
        guard (webhook.rules ?? []).contains(where: { $0.matches(operation: operation, group: "", version: "v1", resource: "pods") }) else { return false }
        guard (webhook.namespaceSelector ?? LabelSelector()).matches(namespaceLabels) else { return false }
        let selector = webhook.objectSelector ?? LabelSelector()
        let labels = { (value: JSONValue?) in value?[path: ["metadata", "labels"]]?.objectValue?.compactMapValues(\.stringValue) ?? [:] }
        return [object, oldObject].compactMap { $0 }.contains { selector.matches(labels($0)) }
    }

    struct CallFailure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    private func call(
        _ webhook: MutatingWebhook, operation: String, namespace: String, name: String?, object: JSONValue?, oldObject: JSONValue?, dryRun: Bool
    ) async throws -> AdmissionResponse {
        guard let version = webhook.admissionReviewVersions.first(where: AdmissionReview.versions.contains) else {
            throw CallFailure(message: "none of the webhook's admissionReviewVersions \(webhook.admissionReviewVersions) is supported")
        }
        let uid = UUID().uuidString.lowercased()
        let review = AdmissionReview(apiVersion: "admission.k8s.io/\(version)", request: AdmissionRequest(
            uid: uid, kind: GroupVersionKindRef(version: "v1", kind: "Pod"), resource: GroupVersionKindRef(version: "v1", resource: "pods"),
            name: name, namespace: namespace, operation: operation, object: object, oldObject: oldObject, dryRun: dryRun))
        let timeout = webhook.timeoutSeconds ?? 10
        let (host, port, serverName, path) = try endpoint(webhook.clientConfig)
        let body = try JSONEncoder().encode(review)
        let reply = try await WebhookCall.post(
            host: host, port: port, serverName: serverName, path: path + "?timeout=\(timeout)s", body: Array(body),
            caBundle: webhook.clientConfig.caBundle, timeout: .seconds(timeout))
        guard reply.status == 200 else { throw CallFailure(message: "the server responded with HTTP \(reply.status): \(String(decoding: reply.body, as: UTF8.self))") }
        guard let answer = try? JSONDecoder().decode(AdmissionReview.self, from: Data(reply.body)), let response = answer.response else {
            throw CallFailure(message: "the answer is not an AdmissionReview with a response")
        }
        guard answer.apiVersion == review.apiVersion else { throw CallFailure(message: "asked in \(review.apiVersion ?? ""), answered in \(answer.apiVersion ?? "")") }
        guard response.uid == uid else { throw CallFailure(message: "the response's uid does not match the request's") }
        return response
    }

    private func endpoint(_ config: WebhookClientConfig) throws -> (host: String, port: Int, serverName: String, path: String) {
        if let url = config.url.flatMap(URL.init(string:)), let host = url.host {
            return (host, url.port ?? 443, host, url.path.isEmpty ? "/" : url.path)
        }
        guard let service = config.service else { throw CallFailure(message: "the webhook has neither a url nor a service") }
        guard let port = services.withLock({ $0["\(service.namespace)/\(service.name)"] }) else {
            throw CallFailure(message: "service \"\(service.name)\" not found")
        }
        return ("127.0.0.1", port, "\(service.name).\(service.namespace).svc", service.path ?? "/")
    }
}

/// One HTTPS POST, as kube-apiserver's webhook client makes it: TLS verified against the
/// CA bundle and the server name, HTTP/1.1, a deadline for the whole exchange.
enum WebhookCall {
    struct Reply {
        var status: Int
        var body: [UInt8]
    }

    static func post(host: String, port: Int, serverName: String, path: String, body: [UInt8], caBundle: String?, timeout: Duration) async throws -> Reply {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caBundle, let pem = Data(base64Encoded: caBundle) {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem)))
        }
        tls.applicationProtocols = ["http/1.1"]
        let context = try NIOSSLContext(configuration: tls)
        return try await withThrowingTaskGroup(of: Reply.self) { group in
            group.addTask {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(Int64(max(1, timeout.components.seconds))))
                    .connect(host: host, port: port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                            try channel.pipeline.syncOperations.addHTTPClientHandlers()
                            return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                        }
                    }
                return try await channel.executeThenClose { inbound, outbound in
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(serverName):\(port)")
                    headers.add(name: "Content-Type", value: "application/json")
                    headers.add(name: "Content-Length", value: String(body.count))
                    do {
                        try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)))
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
                        try await outbound.write(.end(nil))
                    } catch {
                        // A failed TLS handshake closes the channel; its error is the one to report.
                        for try await _ in inbound {}
                        throw error
                    }
                    var status = 0
                    var received: [UInt8] = []
                    for try await part in inbound {
                        switch part {
                        case .head(let head): status = Int(head.status.code)
                        case .body(let chunk): received += Array(chunk.readableBytesView)
                        case .end: return Reply(status: status, body: received)
                        }
                    }
                    throw AdmissionChain.CallFailure(message: "the connection closed before the answer ended")
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw AdmissionChain.CallFailure(message: "context deadline exceeded (no answer within \(timeout))")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}
