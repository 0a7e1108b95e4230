import Foundation
import KubeClient
import KubeModels
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import Yams

/// An in-process stand-in for kube-apiserver, for tests: a real HTTP/1.1 server on 127.0.0.1
/// (optionally TLS and a bearer token) over an in-memory object store.
///
/// It implements get, list (selectors, paging), create (`generateName`), update with optimistic
/// concurrency, the status subresource, merge/JSON/apply patches, delete with finalizers,
/// preconditions and garbage collection, and watch with a bounded history (`410 Expired` for
/// compacted versions) and bookmarks. Tests inject faults through ``faults`` and the
/// watch controls, and assert on the stored objects.
public final class KubeTestServer: Sendable {
    /// One request the server answered.
    public struct RecordedRequest: Sendable, Hashable {
        public var method: String
        public var path: String
        public var query: [String: String]
        public var status: Int
    }

    public let port: Int
    public let faults = FaultInjector()
    /// The TLS material when serving HTTPS.
    public let tls: TestTLS?
    /// The bearer token required from clients, when set.
    public let token: String?
    let store: ObjectStore
    let admission = AdmissionChain()
    private let recorded = Mutex<[RecordedRequest]>([])
    /// The identities TokenReviews resolve tokens to.
    private let reviewedTokens = Mutex<[String: UserInfo]>([:])
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])

    private init(port: Int, store: ObjectStore, tls: TestTLS?, token: String?) {
        self.port = port
        self.store = store
        self.tls = tls
        self.token = token
    }

    /// Starts a server, runs `body` with it, and stops it (closing every connection) afterwards.
    public static func withServer<T: Sendable>(
        resources: [TestResource] = TestResource.builtIn,
        tls: TestTLS? = nil,
        token: String? = nil,
        historyLimit: Int = 1000,
        _ body: (KubeTestServer) async throws -> T
    ) async throws -> T {
        let sslContext = try tls.map { try NIOSSLContext(configuration: $0.serverConfiguration()) }
        let accepted = AcceptedConnections()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { child in
                child.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try child.pipeline.syncOperations.configureHTTPServerPipeline()
                    let connection = try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: child)
                    accepted.accept(connection)
                    return connection
                }
            }
        let server = KubeTestServer(
            port: channel.channel.localAddress?.port ?? 0,
            store: ObjectStore(resources: resources, historyLimit: historyLimit), tls: tls, token: token)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await channel.executeThenClose { inbound in
                    try await withThrowingDiscardingTaskGroup { connections in
                        for try await connection in inbound {
                            accepted.serving(connection)
                            connections.addTask { await server.serve(connection) }
                        }
                    }
                }
            }
            let result: Result<T, any Error>
            do {
                result = .success(try await body(server))
            } catch {
                result = .failure(error)
            }
            server.store.broadcast { _ in .close(abrupt: false) }
            try? await channel.channel.close()
            accepted.stop()
            for connection in server.connections.withLock({ Array($0.values) }) {
                try? await connection.close()
            }
            group.cancelAll()
            return try result.get()
        }
    }

    // MARK: Test controls

    /// The base URL clients use.
    public var url: URL { URL(string: "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)")! }

    /// A client configuration for this server (trusting its certificate, with its token).
    public func clientConfiguration(retry: RetryPolicy = RetryPolicy(backoff: Backoff(initial: .milliseconds(10), maximum: .milliseconds(100))), qps: Double = 1000, burst: Int = 1000) -> KubeClientConfiguration {
        KubeClientConfiguration(
            server: url,
            certificateAuthorityPEM: tls.map { Array($0.certificatePEM.utf8) },
            bearerToken: token.map { .literal($0) },
            qps: qps, burst: burst, requestTimeout: .seconds(30), retry: retry)
    }

    /// Serves another resource type (e.g. a custom resource).
    public func register(_ resource: TestResource) {
        store.state.withLock { $0.resources[resource.gvr.qualifiedResource] = resource }
    }

    /// The stored object, or `nil`.
    public func object(_ resource: GroupVersionResource, namespace: String? = nil, name: String) -> JSONValue? {
        let key = ObjectStore.Key(resource: resource.qualifiedResource, namespace: resource.namespaced ? (namespace ?? "") : "", name: name)
        return store.state.withLock { $0.objects[key] }
    }

    /// The stored object decoded as `R`, or `nil`.
    public func object<R: KubeResource>(_ type: R.Type, namespace: String? = nil, name: String) -> R? {
        try? object(R.resource, namespace: namespace, name: name)?.decode(as: R.self)
    }

    /// All stored objects of a resource, sorted by namespace and name.
    public func objects(_ resource: GroupVersionResource) -> [JSONValue] {
        store.allObjects(resource.qualifiedResource)
    }

    /// Stores an object directly, as if created through the API.
    @discardableResult
    public func seed<R: KubeResource>(_ object: R) throws -> R {
        let resource = try resolve(R.resource.qualifiedResource)
        let created = try store.create(resource, namespace: object.metadata.namespace, body: JSONValue(encoding: object), manager: nil)
        return try created.decode(as: R.self)
    }

    /// Creates `pod`, then sets its status as the kubelet would (a create ignores `status`).
    @discardableResult
    public func seedRunning(_ pod: Pod) throws -> Pod {
        try seed(pod)
        return try modifyStatus(Pod.self, namespace: pod.metadata.namespace, name: pod.metadata.name ?? "") { $0.status = pod.status }
    }

    /// Changes a stored object directly (as another client would), bumping its resourceVersion.
    @discardableResult
    public func modify<R: KubeResource>(_ type: R.Type, namespace: String? = nil, name: String, _ change: @escaping (inout R) -> Void) throws -> R {
        let resource = try resolve(R.resource.qualifiedResource)
        let updated = try store.update(resource, namespace: namespace, name: name, target: .main, manager: nil) { (live: JSONValue) throws(APIFailure) -> JSONValue in
            do {
                var typed = try live.decode(as: R.self)
                change(&typed)
                var value = try JSONValue(encoding: typed)
                value["status"] = live["status"]
                return value
            } catch {
                throw .badRequest("\(error)")
            }
        }
        return try updated.decode(as: R.self)
    }

    /// Changes a stored object's status directly, as the controller that owns it would (the
    /// DaemonSet controller, a daemon): everything but `status` is kept.
    @discardableResult
    public func modifyStatus<R: KubeResource>(_ type: R.Type, namespace: String? = nil, name: String, _ change: @escaping (inout R) -> Void) throws -> R {
        let resource = try resolve(R.resource.qualifiedResource)
        let updated = try store.update(resource, namespace: namespace, name: name, target: .status, manager: nil) { (live: JSONValue) throws(APIFailure) -> JSONValue in
            do {
                var typed = try live.decode(as: R.self)
                change(&typed)
                var value = live
                value["status"] = try JSONValue(encoding: typed)["status"]
                return value
            } catch {
                throw .badRequest("\(error)")
            }
        }
        return try updated.decode(as: R.self)
    }

    /// Deletes a stored object directly (finalizers are honoured).
    public func remove(_ resource: GroupVersionResource, namespace: String? = nil, name: String) throws {
        _ = try store.delete(try resolve(resource.qualifiedResource), namespace: namespace, name: name, preconditions: nil, propagation: nil)
    }

    /// Makes TokenReviews authenticate `token` as `user`; every other token is unauthenticated.
    public func addToken(_ token: String, for user: UserInfo) {
        reviewedTokens.withLock { $0[token] = user }
    }

    /// Makes TokenReviews authenticate `token` as a service account, with the groups the API
    /// server gives service accounts.
    public func addServiceAccountToken(_ token: String, namespace: String, name: String) {
        addToken(token, for: UserInfo(
            username: "system:serviceaccount:\(namespace):\(name)", uid: "uid-\(namespace)-\(name)",
            groups: ["system:serviceaccounts", "system:serviceaccounts:\(namespace)", "system:authenticated"]))
    }

    /// Stores every object of a multi-document YAML manifest (e.g. a file from `deploy/`),
    /// each in the resource registered for its kind.
    public func apply(manifest yaml: String) throws {
        for node in try Yams.compose_all(yaml: yaml) {
            let value = try YAMLDecoder().decode(JSONValue.self, from: node)
            guard let kind = value["kind"]?.stringValue else { continue }
            let resource = try store.state.withLock { state throws(APIFailure) -> TestResource in
                guard let match = state.resources.values.first(where: { $0.gvr.kind == kind }) else {
                    throw APIFailure.badRequest("no resource registered for kind \(kind)")
                }
                return match
            }
            _ = try store.create(resource, namespace: value[path: ["metadata", "namespace"]]?.stringValue, body: value, manager: nil)
        }
    }

    /// Ends every open watch: cleanly, or by dropping the connection without the final chunk.
    public func closeWatches(abrupt: Bool = false) {
        store.broadcast { _ in .close(abrupt: abrupt) }
    }

    /// Ends every open watch with an `ERROR` event carrying `410 Expired`, as kube-apiserver
    /// does when a watcher falls too far behind.
    public func expireWatches() {
        store.broadcast { version in
            .error(Status(status: "Failure", message: "too old resource version: \(version)", reason: "Expired", code: 410))
        }
    }

    /// Drops the watch history: resuming from any version seen so far gets `410 Expired`.
    public func compactHistory() {
        store.compact()
    }

    /// Sends a BOOKMARK with the current resourceVersion on every open watch that asked for bookmarks.
    public func sendBookmarks() {
        store.broadcast { .bookmark(resourceVersion: String($0)) }
    }

    /// Number of watches currently open.
    public var openWatchCount: Int { store.state.withLock { $0.watchers.count } }

    /// The current global resourceVersion.
    public var resourceVersion: Int64 { store.currentVersion }

    /// Every request answered so far.
    public var requests: [RecordedRequest] { recorded.withLock { $0 } }

    /// Makes admission webhooks whose `clientConfig.service` is `namespace/name` reach the
    /// server on 127.0.0.1:`port` (as a Service's port 443 would route to its pods).
    public func routeService(namespace: String, name: String, toPort port: Int?) {
        admission.services.withLock { $0["\(namespace)/\(name)"] = port }
    }

    /// The admission webhook calls made so far: the webhook's name and what came of the call
    /// (`patched`, `unchanged`, `denied`, `failed: …`, `ignored: …`).
    public var admissionCalls: [(webhook: String, outcome: String)] { admission.calls.withLock { $0 } }

    // MARK: Connection handling

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let id = ObjectIdentifier(connection.channel)
        connections.withLock { $0[id] = connection.channel }
        defer { connections.withLock { _ = $0.removeValue(forKey: id) } }
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body.clear()
                case .body(var chunk):
                    body.writeBuffer(&chunk)
                case .end:
                    guard let requestHead = head else { continue }
                    head = nil
                    let keepOpen = try await respond(to: requestHead, body: body, outbound: outbound, channel: connection.channel)
                    if !keepOpen { return }
                }
            }
        }
    }

    private enum Reply {
        case full(HTTPResponseStatus, JSONValue, HTTPHeaders = HTTPHeaders())
        case watch(id: UInt64, AsyncStream<WatchMessage>, bookmarks: Bool, timeout: Int?)
    }

    private func respond(
        to head: HTTPRequestHead, body: ByteBuffer,
        outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, channel: any Channel
    ) async throws -> Bool {
        let components = URLComponents(string: "http://localhost" + head.uri)
        let path = components?.path ?? head.uri
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
        let isWatch = head.method == .GET && (query["watch"] == "true" || query["watch"] == "1")

        var dropMidBody = false
        for fault in faults.take(method: head.method.rawValue, path: path, isWatch: isWatch) {
            switch fault {
            case .delay(let duration):
                try await Task.sleep(for: duration)
            case .status(let code, let retryAfter):
                var headers = HTTPHeaders()
                if let retryAfter { headers.add(name: "Retry-After", value: String(retryAfter)) }
                let failure = APIFailure(
                    code: code, reason: KubeAPIError.reason(forCode: code),
                    message: code == 429 ? "Too many requests, please try again later." : "injected failure (HTTP \(code))",
                    details: retryAfter.map { StatusDetails(retryAfterSeconds: $0) })
                record(head, path, query, code)
                try await write(.full(HTTPResponseStatus(statusCode: code), try JSONValue(encoding: failure.status), headers), to: outbound)
                return true
            case .dropConnectionMidBody:
                dropMidBody = true
            }
        }

        var body = body
        if !isWatch, let failure = await admit(head, path: path, query: query, body: &body) {
            record(head, path, query, failure.code)
            try await write(.full(HTTPResponseStatus(statusCode: failure.code), try JSONValue(encoding: failure.status)), to: outbound)
            return true
        }
        let reply = reply(to: head, path: path, query: query, body: body, isWatch: isWatch)

        switch reply {
        case .full(let status, let value, let headers):
            record(head, path, query, Int(status.code))
            if dropMidBody {
                let bytes = try value.encoded()
                var responseHeaders = headers
                responseHeaders.add(name: "Content-Type", value: "application/json")
                responseHeaders.add(name: "Content-Length", value: String(bytes.count))
                try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: responseHeaders)))
                try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes.prefix(max(1, bytes.count / 2))))))
                try? await channel.close()
                return false
            }
            try await write(reply, to: outbound)
            return true
        case .watch(let id, let stream, let bookmarks, let timeout):
            record(head, path, query, 200)
            defer { store.stopWatch(id) }
            return try await streamWatch(stream, bookmarks: bookmarks, timeout: timeout, dropMidBody: dropMidBody, outbound: outbound, channel: channel)
        }
    }

    /// Runs mutating admission for pod writes (see ``AdmissionChain``); a rejection is returned,
    /// a mutation replaces `body`. Requests the chain does not concern, or that fail before
    /// admission would run (no such pod, unparseable body), pass through unchanged.
    private func admit(_ head: HTTPRequestHead, path: String, query: [String: String], body: inout ByteBuffer) async -> APIFailure? {
        guard let route = try? route(path), route.resource.gvr.qualifiedResource == "pods", route.subresource == nil,
              let namespace = route.namespace, token.map({ head.headers.first(name: "Authorization") == "Bearer \($0)" }) ?? true
        else { return nil }
        let configurations = store.allObjects("mutatingwebhookconfigurations.admissionregistration.k8s.io")
        guard !configurations.isEmpty else { return nil }
        let operation: String
        var object: JSONValue?
        var oldObject: JSONValue?
        switch (head.method, route.name) {
        case (.POST, nil):
            operation = "CREATE"
            guard let decoded = try? JSONValue.decode(Data(body.readableBytesView)) else { return nil }
            object = decoded
        case (.PUT, let name?):
            operation = "UPDATE"
            guard let decoded = try? JSONValue.decode(Data(body.readableBytesView)), let stored = try? store.get(route.resource, namespace: namespace, name: name) else { return nil }
            (object, oldObject) = (decoded, stored)
        case (.DELETE, let name?):
            operation = "DELETE"
            guard let stored = try? store.get(route.resource, namespace: namespace, name: name) else { return nil }
            oldObject = stored
        default:
            return nil
        }
        let namespaceObject = try? store.get(TestResource(Namespace.self), namespace: nil, name: namespace)
        let labels = namespaceObject?[path: ["metadata", "labels"]]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
        let name = route.name ?? object?[path: ["metadata", "name"]]?.stringValue
        switch await admission.admit(
            operation: operation, namespace: namespace, name: name, object: object, oldObject: oldObject, dryRun: query["dryRun"] == "All",
            configurations: configurations, namespaceLabels: labels)
        {
        case .rejected(let failure):
            return failure
        case .admitted(let mutated):
            if operation != "DELETE", let mutated, let bytes = try? mutated.encoded() { body = ByteBuffer(bytes: bytes) }
            return nil
        }
    }

    private func reply(to head: HTTPRequestHead, path: String, query: [String: String], body: ByteBuffer, isWatch: Bool) -> Reply {
        do throws(APIFailure) {
            try authenticate(head)
            return try handle(method: head.method, path: path, query: query, headers: head.headers, body: body, isWatch: isWatch)
        } catch {
            var headers = HTTPHeaders()
            if let retryAfter = error.retryAfterSeconds { headers.add(name: "Retry-After", value: String(retryAfter)) }
            return .full(HTTPResponseStatus(statusCode: error.code), (try? JSONValue(encoding: error.status)) ?? .null, headers)
        }
    }

    private func record(_ head: HTTPRequestHead, _ path: String, _ query: [String: String], _ status: Int) {
        recorded.withLock { $0.append(RecordedRequest(method: head.method.rawValue, path: path, query: query, status: status)) }
    }

    private func write(_ reply: Reply, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        guard case .full(let status, let value, var headers) = reply else { return }
        let bytes = try value.encoded()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(bytes.count))
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes))))
        try await outbound.write(.end(nil))
    }

    private enum WatchEnd: Sendable {
        case finished
        case abrupt
    }

    private func streamWatch(
        _ stream: AsyncStream<WatchMessage>, bookmarks: Bool, timeout: Int?, dropMidBody: Bool,
        outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, channel: any Channel
    ) async throws -> Bool {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Transfer-Encoding", value: "chunked")
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
        if dropMidBody {
            try await outbound.write(.body(.byteBuffer(ByteBuffer(string: "{\"type\":\"ADDED\",\"obj"))))
            try? await channel.close()
            return false
        }
        // An EventLoopFuture cannot be cancelled, so the close is relayed through a stream.
        let (clientClosed, closedContinuation) = AsyncStream<Void>.makeStream()
        channel.closeFuture.whenComplete { _ in closedContinuation.finish() }
        let end = await withTaskGroup(of: WatchEnd.self) { group in
            group.addTask {
                for await message in stream {
                    var line: JSONValue
                    switch message {
                    case .event(let type, let object):
                        line = ["type": .string(type), "object": object]
                    case .bookmark(let version):
                        guard bookmarks else { continue }
                        line = ["type": "BOOKMARK", "object": ["metadata": ["resourceVersion": .string(version)]]]
                    case .error(let status):
                        line = ["type": "ERROR", "object": (try? JSONValue(encoding: status)) ?? .null]
                    case .close(let abrupt):
                        return abrupt ? .abrupt : .finished
                    }
                    guard var bytes = try? line.encoded() else { continue }
                    bytes.append(UInt8(ascii: "\n"))
                    do {
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes))))
                    } catch {
                        return .abrupt
                    }
                    if case .error = message { return .finished }
                }
                return .finished
            }
            if let timeout {
                group.addTask {
                    try? await Task.sleep(for: .seconds(timeout))
                    return .finished
                }
            }
            group.addTask {
                // The client closed the connection (e.g. it cancelled the watch).
                for await _ in clientClosed {}
                return .abrupt
            }
            let first = await group.next() ?? .finished
            group.cancelAll()
            return first
        }
        switch end {
        case .finished:
            try await outbound.write(.end(nil))
            return true
        case .abrupt:
            try? await channel.close()
            return false
        }
    }

    // MARK: Routing and verbs

    private func authenticate(_ head: HTTPRequestHead) throws(APIFailure) {
        guard let token else { return }
        guard head.headers.first(name: "Authorization") == "Bearer \(token)" else {
            throw APIFailure(code: 401, reason: "Unauthorized", message: "Unauthorized")
        }
    }

    private func resolve(_ qualified: String) throws(APIFailure) -> TestResource {
        guard let resource = store.state.withLock({ $0.resources[qualified] }) else {
            throw APIFailure(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        return resource
    }

    private struct Route {
        var resource: TestResource
        var namespace: String?
        var name: String?
        var subresource: String?
    }

    private func route(_ path: String) throws(APIFailure) -> Route {
        let segments = path.split(separator: "/").map(String.init)
        let group: String
        let rest: ArraySlice<String>
        if segments.first == "api", segments.count >= 3 {
            group = ""
            rest = segments.dropFirst(2)
        } else if segments.first == "apis", segments.count >= 4 {
            group = segments[1]
            rest = segments.dropFirst(3)
        } else {
            throw APIFailure(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        let parts = Array(rest)
        func qualified(_ plural: String) -> String { group.isEmpty ? plural : "\(plural).\(group)" }
        if parts.count >= 3, parts[0] == "namespaces",
            let resource = store.state.withLock({ $0.resources[qualified(parts[2])] }), resource.gvr.namespaced
        {
            guard parts.count <= 5 else { throw APIFailure(code: 404, reason: "NotFound", message: "the server could not find the requested resource") }
            return Route(resource: resource, namespace: parts[1], name: parts.count > 3 ? parts[3] : nil, subresource: parts.count > 4 ? parts[4] : nil)
        }
        guard let plural = parts.first, parts.count <= 3 else {
            throw APIFailure(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        let resource = try resolve(qualified(plural))
        return Route(resource: resource, namespace: nil, name: parts.count > 1 ? parts[1] : nil, subresource: parts.count > 2 ? parts[2] : nil)
    }

    private func handle(method: HTTPMethod, path: String, query: [String: String], headers: HTTPHeaders, body: ByteBuffer, isWatch: Bool) throws(APIFailure) -> Reply {
        if method == .POST, path == "/apis/authentication.k8s.io/v1/tokenreviews" {
            return .full(.created, try reviewToken(try decodeJSON(body)))
        }
        if method == .POST, path == "/apis/authorization.k8s.io/v1/subjectaccessreviews" {
            return .full(.created, try reviewAccess(try decodeJSON(body)))
        }
        let route = try route(path)
        let resource = route.resource
        if let subresource = route.subresource, subresource != "status" || !resource.statusSubresource {
            throw APIFailure(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        if resource.gvr.namespaced, route.name != nil, route.namespace == nil {
            throw APIFailure(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        let target: ObjectStore.Target = route.subresource == "status" ? .status : .main
        let manager = query["fieldManager"]
        switch (method, route.name) {
        case (.GET, nil):
            let labels = try parseSelector(query["labelSelector"], setBased: true)
            let fields = try parseSelector(query["fieldSelector"], setBased: false)
            if isWatch {
                switch store.watch(resource, namespace: route.namespace, labels: labels, fields: fields, from: query["resourceVersion"]) {
                case .expired(let status):
                    // kube-apiserver answers 200 and ends the stream with one ERROR event.
                    let (stream, continuation) = AsyncStream<WatchMessage>.makeStream()
                    continuation.yield(.error(status))
                    continuation.finish()
                    return .watch(id: 0, stream, bookmarks: false, timeout: nil)
                case .stream(let id, let stream):
                    return .watch(id: id, stream, bookmarks: query["allowWatchBookmarks"] == "true", timeout: query["timeoutSeconds"].flatMap { Int($0) })
                }
            }
            let limit = query["limit"].flatMap { Int($0) }
            let result = try store.list(resource, namespace: route.namespace, labels: labels, fields: fields, limit: limit, continueToken: query["continue"])
            var metadata: JSONValue = ["resourceVersion": .string(String(result.version))]
            if let token = result.continueToken { metadata["continue"] = .string(token) }
            if let remaining = result.remaining { metadata["remainingItemCount"] = .int(Int64(remaining)) }
            return .full(.ok, ["apiVersion": .string(resource.gvr.apiVersion), "kind": .string(resource.gvr.kind + "List"), "metadata": metadata, "items": .array(result.items)])
        case (.GET, let name?):
            return .full(.ok, try store.get(resource, namespace: route.namespace, name: name))
        case (.POST, nil):
            let dryRun = query["dryRun"] == "All"
            return .full(.created, try store.create(resource, namespace: route.namespace, body: try decodeJSON(body), manager: manager, dryRun: dryRun))
        case (.PUT, let name?):
            let document = try decodeJSON(body)
            return .full(.ok, try store.update(resource, namespace: route.namespace, name: name, target: target, manager: manager) { _ in document })
        case (.PATCH, let name?):
            let contentType = headers.first(name: "Content-Type")?.split(separator: ";").first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
            switch contentType {
            case "application/apply-patch+yaml":
                guard let manager, !manager.isEmpty else {
                    throw APIFailure.badRequest("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
                }
                let existed = (try? store.get(resource, namespace: route.namespace, name: name)) != nil
                let result = try store.apply(resource, namespace: route.namespace, name: name, applied: try decodeYAML(body), manager: manager, force: query["force"] == "true", target: target)
                return .full(existed ? .ok : .created, result)
            case "application/merge-patch+json", "application/strategic-merge-patch+json":
                let patch = try decodeJSON(body)
                return .full(.ok, try store.update(resource, namespace: route.namespace, name: name, target: target, manager: manager) { $0.applyingMergePatch(patch) })
            case "application/json-patch+json":
                let patch = try decodeJSON(body)
                return .full(.ok, try store.update(resource, namespace: route.namespace, name: name, target: target, manager: manager) { (live: JSONValue) throws(APIFailure) -> JSONValue in
                    do {
                        return try live.applyingJSONPatch(patch)
                    } catch {
                        throw APIFailure(code: 422, reason: "Invalid", message: "the server rejected our request due to an error in our request: \(error)")
                    }
                })
            default:
                throw APIFailure(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
            }
        case (.DELETE, let name?):
            let options = body.readableBytes > 0 ? try decodeJSON(body) : .object([:])
            let propagation = options["propagationPolicy"]?.stringValue ?? query["propagationPolicy"]
            return .full(.ok, try store.delete(resource, namespace: route.namespace, name: name, preconditions: options["preconditions"], propagation: propagation))
        default:
            throw APIFailure(code: 405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource")
        }
    }

    /// A TokenReview answered from ``addToken(_:for:)``.
    private func reviewToken(_ body: JSONValue) throws(APIFailure) -> JSONValue {
        do {
            var review = try body.decode(as: TokenReview.self)
            if let user = reviewedTokens.withLock({ $0[review.spec.token] }) {
                review.status = .init(authenticated: true, user: user)
            } else {
                review.status = .init(authenticated: false, error: "invalid bearer token")
            }
            return try JSONValue(encoding: review)
        } catch {
            throw APIFailure.badRequest("\(error)")
        }
    }

    /// A SubjectAccessReview decided by the stored RBAC objects.
    private func reviewAccess(_ body: JSONValue) throws(APIFailure) -> JSONValue {
        do {
            var review = try body.decode(as: SubjectAccessReview.self)
            let evaluator = RBACEvaluator(
                clusterRoles: store.allObjects(RBACResources.clusterRoles.qualifiedResource),
                clusterRoleBindings: store.allObjects(RBACResources.clusterRoleBindings.qualifiedResource),
                roles: store.allObjects(RBACResources.roles.qualifiedResource),
                roleBindings: store.allObjects(RBACResources.roleBindings.qualifiedResource))
            let allowed = evaluator.allows(review.spec)
            review.status = .init(allowed: allowed, reason: allowed ? "RBAC: allowed by a binding" : "")
            return try JSONValue(encoding: review)
        } catch {
            throw APIFailure.badRequest("\(error)")
        }
    }

    private func parseSelector(_ text: String?, setBased: Bool) throws(APIFailure) -> Selector {
        guard let text, !text.isEmpty else { return .everything }
        do {
            return try Selector(parsing: text, allowSetBased: setBased)
        } catch {
            throw APIFailure.badRequest(error.description)
        }
    }

    private func decodeJSON(_ body: ByteBuffer) throws(APIFailure) -> JSONValue {
        do {
            return try JSONValue.decode(Data(body.readableBytesView))
        } catch {
            throw APIFailure.badRequest("the body of the request was not valid JSON: \(error)")
        }
    }

    private func decodeYAML(_ body: ByteBuffer) throws(APIFailure) -> JSONValue {
        if let json = try? JSONValue.decode(Data(body.readableBytesView)) { return json }
        do {
            return try YAMLDecoder().decode(JSONValue.self, from: String(buffer: body))
        } catch {
            throw APIFailure.badRequest("the body of the apply patch is neither JSON nor YAML: \(error)")
        }
    }
}

/// Connections accepted but not yet handed to ``KubeTestServer``'s loop. A connection that
/// arrives while the server stops never reaches the loop; its writer must still be finished
/// (NIO traps when an unfinished `NIOAsyncChannel` writer is released), so ``stop()`` finishes
/// and closes what is left and whatever is accepted afterwards.
final class AcceptedConnections: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    private let state = Mutex<(stopped: Bool, waiting: [ObjectIdentifier: Connection])>((false, [:]))

    func accept(_ connection: Connection) {
        let stopped = state.withLock { state in
            if !state.stopped { state.waiting[ObjectIdentifier(connection.channel)] = connection }
            return state.stopped
        }
        if stopped { Self.discard(connection) }
    }

    func serving(_ connection: Connection) {
        _ = state.withLock { $0.waiting.removeValue(forKey: ObjectIdentifier(connection.channel)) }
    }

    func stop() {
        let left = state.withLock { state in
            state.stopped = true
            defer { state.waiting = [:] }
            return Array(state.waiting.values)
        }
        left.forEach(Self.discard)
    }

    private static func discard(_ connection: Connection) {
        // Finishes the writer and closes the channel.
        Task { try? await connection.executeThenClose { _, _ in } }
    }
}
