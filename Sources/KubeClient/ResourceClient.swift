import AsyncHTTPClient
import Foundation
import KubeModels
import NIOCore
import NIOHTTP1

/// The verbs of one resource type: get, list, create, update, status update, patch, apply,
/// delete and watch. `Object` is a typed model or ``JSONValue`` for untyped access.
///
/// `namespace` is ignored for cluster-scoped resources; for list and watch, `nil` on a
/// namespaced resource means all namespaces.
public struct ResourceClient<Object: Codable & Sendable>: Sendable {
    public let client: KubernetesClient
    public let resource: GroupVersionResource

    init(client: KubernetesClient, resource: GroupVersionResource) {
        self.client = client
        self.resource = resource
    }

    private func path(_ namespace: String?, _ name: String? = nil, _ subresource: String? = nil) -> String {
        RequestPath.path(resource, namespace: namespace, name: name, subresource: subresource)
    }

    public func get(_ name: String, namespace: String? = nil) async throws -> Object {
        try await decode(client.send(.init(method: .GET, path: path(namespace, name), idempotent: true)))
    }

    /// One page of a list (or the whole list when `options.limit` is nil).
    public func list(namespace: String? = nil, options: ListOptions = ListOptions()) async throws -> KubeList<Object> {
        try await decode(client.send(.init(method: .GET, path: path(namespace), query: options.queryItems, idempotent: true)))
    }

    /// Lists every page (following `continue` tokens); the result carries the first page's resourceVersion.
    public func listAll(namespace: String? = nil, options: ListOptions = ListOptions()) async throws -> KubeList<Object> {
        var options = options
        var result = try await list(namespace: namespace, options: options)
        var token = result.metadata.continue
        while let next = token, !next.isEmpty {
            options.continue = next
            // A continued list must not pin a resourceVersion: the token carries it.
            options.resourceVersion = nil
            options.resourceVersionMatch = nil
            let page = try await list(namespace: namespace, options: options)
            result.items.append(contentsOf: page.items)
            token = page.metadata.continue
        }
        result.metadata.continue = nil
        result.metadata.remainingItemCount = nil
        return result
    }

    /// Creates the object; with `dryRun` the server runs admission and validation and answers
    /// with the object as it would be stored, but stores nothing (`?dryRun=All`).
    public func create(_ object: Object, namespace: String? = nil, fieldManager: String? = nil, dryRun: Bool = false) async throws -> Object {
        try await decode(sendCreate(object, namespace: namespace, fieldManager: fieldManager, dryRun: dryRun))
    }

    /// Replaces the object; fails with `409 Conflict` when its resourceVersion is stale.
    public func update(_ object: Object, name: String, namespace: String? = nil, fieldManager: String? = nil) async throws -> Object {
        try await decode(sendUpdate(object, name: name, namespace: namespace, fieldManager: fieldManager))
    }

    /// The response body of a create, undecoded.
    private func sendCreate(_ object: Object, namespace: String?, fieldManager: String?, dryRun: Bool = false) async throws -> ByteBuffer {
        var query = fieldManager.map { [("fieldManager", $0)] } ?? []
        if dryRun { query.append(("dryRun", "All")) }
        return try await client.send(.init(method: .POST, path: path(namespace), query: query, body: encode(object), idempotent: false))
    }

    /// The response body of an update, undecoded.
    private func sendUpdate(_ object: Object, name: String, namespace: String?, fieldManager: String?) async throws -> ByteBuffer {
        try await client.send(.init(
            method: .PUT, path: path(namespace, name), query: fieldManager.map { [("fieldManager", $0)] } ?? [],
            body: encode(object), idempotent: true))
    }

    /// Replaces the status subresource; everything but `status` is ignored by the server.
    public func updateStatus(_ object: Object, name: String, namespace: String? = nil, fieldManager: String? = nil) async throws -> Object {
        try await decode(client.send(.init(
            method: .PUT, path: path(namespace, name, "status"), query: fieldManager.map { [("fieldManager", $0)] } ?? [],
            body: encode(object), idempotent: true)))
    }

    public func patch(_ name: String, namespace: String? = nil, patch: Patch, subresource: String? = nil, fieldManager: String? = nil) async throws -> Object {
        try await decode(sendPatch(name, namespace: namespace, patch: patch, subresource: subresource, fieldManager: fieldManager))
    }

    /// As ``patch(_:namespace:patch:subresource:fieldManager:)`` for a caller that needs only
    /// the write to succeed: the object the server sends back is not decoded.
    public func patchDiscardingResult(_ name: String, namespace: String? = nil, patch: Patch, subresource: String? = nil, fieldManager: String? = nil) async throws {
        _ = try await sendPatch(name, namespace: namespace, patch: patch, subresource: subresource, fieldManager: fieldManager)
    }

    private func sendPatch(_ name: String, namespace: String?, patch: Patch, subresource: String?, fieldManager: String?) async throws -> ByteBuffer {
        var body = ByteBuffer()
        body.writeBytes(try encodeJSON(patch.document))
        return try await client.send(.init(
            method: .PATCH, path: path(namespace, name, subresource), query: fieldManager.map { [("fieldManager", $0)] } ?? [],
            body: body, contentType: patch.contentType, idempotent: false))
    }

    /// Server-side apply: the object is the manager's full intent for the fields it owns.
    public func apply(_ object: Object, name: String, namespace: String? = nil, fieldManager: String, force: Bool = false, subresource: String? = nil) async throws -> Object {
        var query = [("fieldManager", fieldManager)]
        if force { query.append(("force", "true")) }
        return try await decode(client.send(.init(
            method: .PATCH, path: path(namespace, name, subresource), query: query,
            body: encode(object), contentType: "application/apply-patch+yaml", idempotent: true)))
    }

    public func delete(_ name: String, namespace: String? = nil, options: DeleteOptions = DeleteOptions()) async throws {
        var body = ByteBuffer()
        body.writeBytes(try encodeJSON(options))
        _ = try await client.send(.init(method: .DELETE, path: path(namespace, name), body: body, idempotent: true))
    }

    /// Starts a watch. Set `options.resourceVersion` to resume from a list or a previous event;
    /// `options.timeoutSeconds` bounds the stream on the server side.
    public func watch(namespace: String? = nil, options: ListOptions = ListOptions()) async throws -> WatchStream<Object> {
        var query = options.queryItems
        query.append(("watch", "true"))
        let request = KubernetesClient.Request(method: .GET, path: path(namespace), query: query, idempotent: true)
        // The server ends the stream after timeoutSeconds; allow a margin before giving up locally.
        let deadline: NIODeadline = options.timeoutSeconds.map { .now() + .seconds(Int64($0) + 30) } ?? .now() + .hours(24)
        let response = try await client.openStream(request, deadline: deadline)
        return WatchStream(body: response.body, maximumEventSize: client.configuration.maximumWatchEventSize, request: request.description)
    }

    private func encode(_ object: Object) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes(try encodeJSON(object))
        return buffer
    }

    private func encodeJSON(_ value: some Encodable) throws -> Data {
        do {
            return try KubeJSON.encoder.encode(value)
        } catch {
            throw KubeClientError(.encoding, "cannot encode \(resource.kind)", cause: error)
        }
    }

    private func decode<T: Decodable>(_ body: ByteBuffer) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            throw KubeClientError(.decoding, "cannot decode \(resource.kind) from the response", cause: error)
        }
    }
}

extension ResourceClient where Object: KubeResource {
    /// Creates the object in `metadata.namespace`.
    public func create(_ object: Object, fieldManager: String? = nil, dryRun: Bool = false) async throws -> Object {
        var object = object
        object.setTypeMeta()
        return try await create(object, namespace: object.metadata.namespace, fieldManager: fieldManager, dryRun: dryRun)
    }

    /// Replaces the object named by its metadata (optimistic concurrency on `resourceVersion`).
    public func update(_ object: Object, fieldManager: String? = nil) async throws -> Object {
        var object = object
        object.setTypeMeta()
        return try await update(object, name: object.metadata.name ?? "", namespace: object.metadata.namespace, fieldManager: fieldManager)
    }

    /// As ``create(_:fieldManager:)`` for a caller that needs only the write to succeed: the
    /// object the server sends back is not decoded, which for a large object costs more CPU
    /// than the request itself.
    public func createDiscardingResult(_ object: Object, fieldManager: String? = nil) async throws {
        var object = object
        object.setTypeMeta()
        _ = try await sendCreate(object, namespace: object.metadata.namespace, fieldManager: fieldManager)
    }

    /// Replaces the status of the object named by its metadata.
    public func updateStatus(_ object: Object, fieldManager: String? = nil) async throws -> Object {
        var object = object
        object.setTypeMeta()
        return try await updateStatus(object, name: object.metadata.name ?? "", namespace: object.metadata.namespace, fieldManager: fieldManager)
    }

    /// Server-side applies the object named by its metadata.
    public func apply(_ object: Object, fieldManager: String, force: Bool = false) async throws -> Object {
        var object = object
        object.setTypeMeta()
        return try await apply(object, name: object.metadata.name ?? "", namespace: object.metadata.namespace, fieldManager: fieldManager, force: force)
    }

    /// Gets, changes and updates an object, retrying on `409 Conflict` with a fresh copy
    /// (client-go's `RetryOnConflict`). `mutate` may run several times.
    public func update(
        _ name: String,
        namespace: String? = nil,
        maxAttempts: Int = 5,
        mutate: (inout Object) throws -> Void
    ) async throws -> Object {
        try await retryingOnConflict(name, namespace: namespace, maxAttempts: maxAttempts, mutate: mutate) { try await update($0) }
    }

    /// As ``update(_:namespace:maxAttempts:mutate:)``, for the `status` subresource.
    public func updateStatus(
        _ name: String,
        namespace: String? = nil,
        maxAttempts: Int = 5,
        mutate: (inout Object) throws -> Void
    ) async throws -> Object {
        try await retryingOnConflict(name, namespace: namespace, maxAttempts: maxAttempts, mutate: mutate) { try await updateStatus($0) }
    }

    /// Changes and updates `cached` (an informer's copy) without reading it first; only when
    /// the cache was behind (`409 Conflict`) is the object read again and `mutate` re-applied,
    /// as in ``update(_:namespace:maxAttempts:mutate:)``. Saves one GET per write while the
    /// cache is current. `mutate` may run several times.
    public func update(cached: Object, maxAttempts: Int = 5, mutate: (inout Object) throws -> Void) async throws -> Object {
        try await retryingOnConflict(cached: cached, maxAttempts: maxAttempts, mutate: mutate) { try await update($0) }
    }

    /// As ``update(cached:maxAttempts:mutate:)`` for a caller that needs only the write to
    /// succeed: the object the server sends back is not decoded.
    public func updateDiscardingResult(cached: Object, maxAttempts: Int = 5, mutate: (inout Object) throws -> Void) async throws {
        try await retryingOnConflict(cached: cached, maxAttempts: maxAttempts, mutate: mutate) { object in
            var object = object
            object.setTypeMeta()
            _ = try await sendUpdate(object, name: object.metadata.name ?? "", namespace: object.metadata.namespace, fieldManager: nil)
        }
    }

    /// As ``update(cached:maxAttempts:mutate:)``, for the `status` subresource.
    public func updateStatus(cached: Object, maxAttempts: Int = 5, mutate: (inout Object) throws -> Void) async throws -> Object {
        try await retryingOnConflict(cached: cached, maxAttempts: maxAttempts, mutate: mutate) { try await updateStatus($0) }
    }

    private func retryingOnConflict<Written>(
        _ name: String? = nil,
        namespace: String? = nil,
        cached: Object? = nil,
        maxAttempts: Int,
        mutate: (inout Object) throws -> Void,
        write: (Object) async throws -> Written
    ) async throws -> Written {
        var attempt = 1
        var cached = cached
        let name = name ?? cached?.metadata.name ?? ""
        let namespace = namespace ?? cached?.metadata.namespace
        while true {
            var object: Object
            if let copy = cached {
                object = copy
                cached = nil
            } else {
                object = try await get(name, namespace: namespace)
            }
            try mutate(&object)
            do {
                return try await write(object)
            } catch let error as KubeAPIError where error.isConflict && attempt < maxAttempts {
                attempt += 1
            }
        }
    }
}
