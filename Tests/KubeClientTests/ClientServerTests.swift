import Foundation
import KubeClient
import KubeModels
import KubeTestServer
import Logging
import Testing

/// Runs `body` against a fresh test server and a client configured for it.
func withClient<T: Sendable>(
    tls: TestTLS? = nil, token: String? = nil,
    configure: (inout KubeClientConfiguration) -> Void = { _ in },
    _ body: (KubernetesClient, KubeTestServer) async throws -> T
) async throws -> T {
    try await KubeTestServer.withServer(resources: TestResource.withWidgets, tls: tls, token: token) { server in
        var configuration = server.clientConfiguration()
        configure(&configuration)
        return try await KubernetesClient.withClient(configuration: configuration) { client in
            try await body(client, server)
        }
    }
}

func apiError(_ error: any Error, _ check: (KubeAPIError) -> Bool) -> Bool {
    guard let error = error as? KubeAPIError else { return false }
    return check(error)
}

@Suite struct ClientVerbTests {
    @Test func createGetListUpdateDelete() async throws {
        try await withClient { client, server in
            let widgets = client.resource(Widget.self)
            let created = try await widgets.create(Widget(name: "a", spec: ["size": 1], labels: ["tier": "x"]))
            #expect(created.metadata.uid != nil)
            #expect(created.metadata.generation == 1)
            #expect(created.metadata.creationTimestamp != nil)

            let fetched = try await widgets.get("a", namespace: "default")
            #expect(fetched == created)

            var changed = fetched
            changed.spec = ["size": 2]
            let updated = try await widgets.update(changed)
            #expect(updated.metadata.generation == 2, "a spec change bumps generation")
            #expect(Int(updated.metadata.resourceVersion!)! > Int(created.metadata.resourceVersion!)!)

            var labelled = updated
            labelled.metadata.labels = ["tier": "y"]
            #expect(try await widgets.update(labelled).metadata.generation == 2, "a metadata change does not")

            let list = try await widgets.list(namespace: "default")
            #expect(list.items.map(\.metadata.name) == ["a"])
            #expect(list.metadata.resourceVersion == String(server.resourceVersion))

            try await widgets.delete("a", namespace: "default")
            #expect(server.object(Widget.resource, namespace: "default", name: "a") == nil)
            await #expect { try await widgets.get("a", namespace: "default") } throws: { apiError($0) { $0.isNotFound && $0.code == 404 && $0.message.contains("\"a\" not found") } }
        }
    }

    @Test func generateNameAndAlreadyExists() async throws {
        try await withClient { client, _ in
            let configMaps = client.resource(ConfigMap.self)
            var generated = ConfigMap(metadata: ObjectMeta(generateName: "cfg-", namespace: "ns"))
            generated = try await configMaps.create(generated)
            let name = try #require(generated.metadata.name)
            #expect(name.hasPrefix("cfg-") && name.count == 9)

            _ = try await configMaps.create(ConfigMap(metadata: ObjectMeta(name: "fixed", namespace: "ns")))
            await #expect { try await configMaps.create(ConfigMap(metadata: ObjectMeta(name: "fixed", namespace: "ns"))) } throws: {
                apiError($0) { $0.isAlreadyExists && $0.code == 409 && !$0.isConflict }
            }
            await #expect { try await configMaps.create(ConfigMap(metadata: ObjectMeta(name: "Not_Valid", namespace: "ns"))) } throws: {
                apiError($0) { $0.isInvalid && $0.details?.causes?.first?.field == "metadata.name" }
            }
        }
    }

    @Test func updatingACachedCopyReadsOnlyWhenTheCacheWasBehind() async throws {
        try await withClient { client, server in
            let widgets = client.resource(Widget.self)
            let fresh = try await widgets.create(Widget(name: "c", spec: ["n": 0]))
            let requestsBefore = server.requests.count
            let first = try await widgets.update(cached: fresh) { $0.spec = ["n": 1] }
            #expect(first.spec?["n"] == 1)
            #expect(server.requests.dropFirst(requestsBefore).map(\.method) == ["PUT"], "a current cache costs no GET")

            // `fresh` is now stale: the PUT conflicts, the object is read and changed again.
            try server.modify(Widget.self, namespace: "default", name: "c") { $0.spec = ["n": 5] }
            let requestsMiddle = server.requests.count
            let second = try await widgets.update(cached: fresh) { widget in
                widget.spec = ["n": .int((widget.spec?["n"]?.intValue ?? 0) + 10)]
            }
            #expect(second.spec?["n"] == 15, "the mutation ran on the server's copy")
            #expect(server.requests.dropFirst(requestsMiddle).map { "\($0.method) \($0.status)" } == ["PUT 409", "GET 200", "PUT 200"])
        }
    }

    /// The writes for callers that need only success behave like the others on the server,
    /// conflicts included, and still fail with the server's typed error.
    @Test func writesThatDiscardTheResultStoreTheSameAndFailTheSame() async throws {
        try await withClient { client, server in
            let widgets = client.resource(Widget.self)
            try await widgets.createDiscardingResult(Widget(name: "d", spec: ["n": 0]))
            let fresh = try #require(server.object(Widget.self, namespace: "default", name: "d"))
            #expect(fresh.spec?["n"] == 0)
            await #expect { try await widgets.createDiscardingResult(Widget(name: "d")) } throws: {
                apiError($0) { $0.isAlreadyExists }
            }

            try await widgets.updateDiscardingResult(cached: fresh) { $0.spec = ["n": 1] }
            #expect(server.object(Widget.self, namespace: "default", name: "d")?.spec?["n"] == 1)
            // `fresh` is stale now: the PUT conflicts, the object is read and changed again.
            let requestsBefore = server.requests.count
            try await widgets.updateDiscardingResult(cached: fresh) { widget in
                widget.spec = ["n": .int((widget.spec?["n"]?.intValue ?? 0) + 10)]
            }
            #expect(server.object(Widget.self, namespace: "default", name: "d")?.spec?["n"] == 11)
            #expect(server.requests.dropFirst(requestsBefore).map { "\($0.method) \($0.status)" } == ["PUT 409", "GET 200", "PUT 200"])
        }
    }

    @Test func staleUpdateConflictsAndRetryOnConflictWins() async throws {
        try await withClient { client, server in
            let widgets = client.resource(Widget.self)
            let original = try await widgets.create(Widget(name: "w", spec: ["n": 0]))
            try server.modify(Widget.self, namespace: "default", name: "w") { $0.spec = ["n": 1] }
            var stale = original
            stale.spec = ["n": 100]
            await #expect { try await widgets.update(stale) } throws: {
                apiError($0) { $0.isConflict && $0.message.contains("the object has been modified") && $0.request.verb == "PUT" }
            }

            var interfered = false
            let result = try await widgets.update("w", namespace: "default") { widget in
                if !interfered {
                    interfered = true
                    try server.modify(Widget.self, namespace: "default", name: "w") { $0.spec = ["n": 2] }
                }
                let current = widget.spec?["n"]?.intValue ?? 0
                widget.spec = ["n": .int(current + 10)]
            }
            #expect(result.spec?["n"] == 12, "the second attempt saw the concurrent change")
        }
    }

    @Test func statusSubresourceSemantics() async throws {
        try await withClient { client, server in
            let widgets = client.resource(Widget.self)
            var widget = Widget(name: "s", spec: ["n": 1])
            widget.status = ["phase": "ignored-on-create"]
            widget = try await widgets.create(widget)
            #expect(widget.status == nil, "status is dropped on create")

            widget.status = ["phase": "Ready"]
            widget.spec = ["n": 999]
            widget.metadata.labels = ["ignored": "yes"]
            let afterStatus = try await widgets.updateStatus(widget)
            #expect(afterStatus.status == ["phase": "Ready"])
            #expect(afterStatus.spec == ["n": 1], "/status ignores spec")
            #expect(afterStatus.metadata.labels == nil, "/status ignores metadata")
            #expect(afterStatus.metadata.generation == 1)

            var main = afterStatus
            main.status = ["phase": "Hacked"]
            main.spec = ["n": 2]
            let afterMain = try await widgets.update(main)
            #expect(afterMain.status == ["phase": "Ready"], "the main endpoint ignores status")
            #expect(afterMain.spec == ["n": 2])
            #expect(server.object(Widget.self, namespace: "default", name: "s")?.status == ["phase": "Ready"])
        }
    }

    @Test func mergeAndJSONPatch() async throws {
        try await withClient { client, _ in
            let widgets = client.resource(Widget.self)
            _ = try await widgets.create(Widget(name: "p", spec: ["a": 1, "b": ["c": 2]], labels: ["x": "1"]))
            let merged = try await widgets.patch("p", namespace: "default", patch: .merge(["spec": ["b": ["c": nil, "d": 3]], "metadata": ["labels": ["y": "2"]]]))
            #expect(merged.spec == ["a": 1, "b": ["d": 3]])
            #expect(merged.metadata.labels == ["x": "1", "y": "2"])

            let patched = try await widgets.patch("p", namespace: "default", patch: .json([
                ["op": "test", "path": "/spec/a", "value": 1],
                ["op": "replace", "path": "/spec/a", "value": 5],
                ["op": "add", "path": "/metadata/finalizers", "value": ["example.com/hold"]],
            ]))
            #expect(patched.spec?["a"] == 5)
            #expect(patched.metadata.finalizers == ["example.com/hold"])

            await #expect {
                try await widgets.patch("p", namespace: "default", patch: .json([["op": "test", "path": "/spec/a", "value": 1]]))
            } throws: { apiError($0) { $0.isInvalid } }

            let statusPatched = try await widgets.patch("p", namespace: "default", patch: .merge(["status": ["ok": true], "spec": ["a": 0]]), subresource: "status")
            #expect(statusPatched.status == ["ok": true])
            #expect(statusPatched.spec?["a"] == 5)

            await #expect {
                try await widgets.patch("p", namespace: "default", patch: .merge(["metadata": ["resourceVersion": "1"], "spec": ["a": 9]]))
            } throws: { apiError($0) { $0.isConflict } }
        }
    }

    @Test func serverSideApplyOwnershipAndConflicts() async throws {
        try await withClient { client, server in
            let widgets = client.resource(Widget.self)
            let first = try await widgets.apply(Widget(name: "sa", spec: ["replicas": 1, "image": "a", "extra": "x"]), fieldManager: "alice")
            #expect(first.spec == ["replicas": 1, "image": "a", "extra": "x"])
            #expect(first.metadata.managedFields?.first?["manager"] == "alice")

            // Alice stops managing "extra": it is removed.
            let second = try await widgets.apply(Widget(name: "sa", spec: ["replicas": 1, "image": "a"]), fieldManager: "alice")
            #expect(second.spec == ["replicas": 1, "image": "a"])

            // Bob applies a different value for a field alice owns: conflict, unless forced.
            await #expect {
                try await widgets.apply(Widget(name: "sa", spec: ["replicas": 3]), fieldManager: "bob")
            } throws: { apiError($0) { $0.isConflict && $0.details?.causes?.first?.field == ".spec.replicas" && $0.message.contains("alice") } }
            let forced = try await widgets.apply(Widget(name: "sa", spec: ["replicas": 3]), fieldManager: "bob", force: true)
            #expect(forced.spec == ["replicas": 3, "image": "a"])

            // Alice dropping replicas no longer removes it: bob owns it now.
            let third = try await widgets.apply(Widget(name: "sa", spec: ["image": "b"]), fieldManager: "alice")
            #expect(third.spec == ["replicas": 3, "image": "b"])

            // Same value from two managers is shared ownership, not a conflict.
            _ = try await widgets.apply(Widget(name: "sa", spec: ["image": "b"]), fieldManager: "carol")
            #expect(server.object(Widget.self, namespace: "default", name: "sa")?.spec == ["replicas": 3, "image": "b"])
        }
    }

    @Test func deleteWithFinalizersPreconditionsAndGarbageCollection() async throws {
        try await withClient { client, server in
            let widgets = client.resource(Widget.self)
            let configMaps = client.resource(ConfigMap.self)
            var owner = Widget(name: "owner")
            owner.metadata.finalizers = ["example.com/cleanup"]
            owner = try await widgets.create(owner)

            await #expect {
                try await widgets.delete("owner", namespace: "default", options: DeleteOptions(preconditions: .init(uid: "wrong")))
            } throws: { apiError($0) { $0.isConflict && $0.message.contains("Precondition failed") } }

            let reference = OwnerReference(apiVersion: Widget.apiVersion, kind: Widget.kind, name: "owner", uid: owner.metadata.uid!, controller: true)
            _ = try await configMaps.create(ConfigMap(metadata: ObjectMeta(name: "child", namespace: "default", ownerReferences: [reference])))
            _ = try await configMaps.create(ConfigMap(metadata: ObjectMeta(name: "orphan-me", namespace: "other", ownerReferences: [reference])))

            try await widgets.delete("owner", namespace: "default", options: DeleteOptions(preconditions: .init(uid: owner.metadata.uid)))
            let terminating = try await widgets.get("owner", namespace: "default")
            #expect(terminating.metadata.deletionTimestamp != nil, "finalizers keep a deleted object")
            #expect(server.object(ConfigMap.self, namespace: "default", name: "child") != nil)

            await #expect {
                var more = terminating
                more.metadata.finalizers = ["example.com/cleanup", "example.com/new"]
                _ = try await widgets.update(more)
            } throws: { apiError($0) { $0.isInvalid && $0.message.contains("no new finalizers") } }

            _ = try await widgets.patch("owner", namespace: "default", patch: .merge(["metadata": ["finalizers": nil]]))
            #expect(server.object(Widget.self, namespace: "default", name: "owner") == nil, "removing the last finalizer deletes")
            #expect(server.object(ConfigMap.self, namespace: "default", name: "child") == nil, "dependents are collected")

            let second = try await widgets.create(Widget(name: "owner2"))
            let reference2 = OwnerReference(apiVersion: Widget.apiVersion, kind: Widget.kind, name: "owner2", uid: second.metadata.uid!)
            _ = try await configMaps.create(ConfigMap(metadata: ObjectMeta(name: "kept", namespace: "default", ownerReferences: [reference2])))
            try await widgets.delete("owner2", namespace: "default", options: DeleteOptions(propagationPolicy: "Orphan"))
            let kept = try #require(server.object(ConfigMap.self, namespace: "default", name: "kept"))
            #expect(kept.metadata.ownerReferences == nil, "orphaned dependents lose the owner reference")
        }
    }

    @Test func listPagingAndSelectors() async throws {
        try await withClient { client, _ in
            let configMaps = client.resource(ConfigMap.self)
            for index in 0..<25 {
                _ = try await configMaps.create(ConfigMap(metadata: ObjectMeta(name: String(format: "cm-%02d", index), namespace: index < 20 ? "a" : "b", labels: ["even": index % 2 == 0 ? "yes" : "no"])))
            }
            let page = try await configMaps.list(namespace: nil, options: ListOptions(limit: 10))
            #expect(page.items.count == 10)
            #expect(page.metadata.continue != nil)
            #expect(page.metadata.remainingItemCount == 15)

            let all = try await configMaps.listAll(options: ListOptions(limit: 7))
            #expect(all.items.count == 25)
            #expect(Set(all.items.compactMap(\.metadata.name)).count == 25, "no duplicates across pages")

            let even = try await configMaps.listAll(namespace: "a", options: ListOptions(labelSelector: "even=yes"))
            #expect(even.items.count == 10)
            let byName = try await configMaps.list(options: ListOptions(fieldSelector: "metadata.name=cm-21"))
            #expect(byName.items.map(\.metadata.namespace) == ["b"])

            await #expect { try await configMaps.list(options: ListOptions(labelSelector: "a in b")) } throws: { apiError($0) { $0.code == 400 } }
        }
    }

    @Test func untypedAccessToAnyResource() async throws {
        try await withClient { client, server in
            let gvr = Widget.resource
            let dynamic = client.dynamic(gvr)
            let created = try await dynamic.create(["metadata": ["name": "dyn"], "spec": ["free": ["form": [1, 2]]]], namespace: "default")
            #expect(created["kind"] == "Widget")
            #expect(created[path: ["spec", "free", "form"]] == [1, 2])
            let list = try await dynamic.list(namespace: "default")
            #expect(list.items.count == 1)
            #expect(server.object(gvr, namespace: "default", name: "dyn")?[path: ["metadata", "uid"]] != nil)
            await #expect {
                _ = try await client.dynamic(GroupVersionResource(group: "nope.io", version: "v1", resource: "things", kind: "Thing", namespaced: true)).list()
            } throws: { apiError($0) { $0.isNotFound } }
        }
    }

    @Test func clusterScopedResources() async throws {
        try await withClient { client, _ in
            let namespaces = client.resource(Namespace.self)
            _ = try await namespaces.create(Namespace(metadata: ObjectMeta(name: "team")))
            let fetched = try await namespaces.get("team")
            #expect(fetched.metadata.namespace == nil)
            #expect(try await namespaces.list().items.count == 1)
        }
    }
}

@Suite struct ClientFailureTests {
    @Test func retriesIdempotentRequestsOn5xxAndHonoursRetryAfterOn429() async throws {
        try await withClient { client, server in
            let widgets = client.resource(Widget.self)
            _ = try await widgets.create(Widget(name: "r"))
            server.faults.inject(.status(code: 500), method: "GET", times: 2)
            #expect(try await widgets.get("r", namespace: "default").metadata.name == "r")
            #expect(server.requests.filter { $0.method == "GET" }.map(\.status) == [500, 500, 200])

            // A create is not idempotent: a 500 is final...
            server.faults.inject(.status(code: 503), method: "POST")
            await #expect { try await widgets.create(Widget(name: "once")) } throws: { apiError($0) { $0.code == 503 && $0.isServerError } }
            // ...but a 429 means "not processed": retried after Retry-After.
            server.faults.inject(.status(code: 429, retryAfterSeconds: 1), method: "POST")
            let start = ContinuousClock.now
            _ = try await widgets.create(Widget(name: "throttled"))
            #expect(ContinuousClock.now - start >= .seconds(1), "waited for Retry-After before retrying")
            #expect(server.requests.filter { $0.method == "POST" }.map(\.status) == [201, 503, 429, 201])
        }
    }

    @Test func givesUpAfterMaxAttemptsWithTheLastStatus() async throws {
        try await withClient(configure: { $0.retry = RetryPolicy(maxAttempts: 3, backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(5))) }) { client, server in
            server.faults.inject(.status(code: 429), times: 10)
            await #expect { try await client.resource(ConfigMap.self).list(namespace: "x") } throws: {
                apiError($0) { $0.isTooManyRequests && $0.request.path == "/api/v1/namespaces/x/configmaps" }
            }
            #expect(server.requests.count == 3)
        }
    }

    @Test func connectionDroppedMidBodyIsRetriedForReads() async throws {
        try await withClient { client, server in
            _ = try await client.resource(ConfigMap.self).create(ConfigMap(metadata: ObjectMeta(name: "c", namespace: "n"), data: ["k": String(repeating: "v", count: 4096)]))
            server.faults.inject(.dropConnectionMidBody, method: "GET")
            let fetched = try await client.resource(ConfigMap.self).get("c", namespace: "n")
            #expect(fetched.data?["k"]?.count == 4096)
            #expect(server.requests.filter { $0.method == "GET" }.count == 2)
        }
    }

    @Test func delayedResponsesStillSucceedWithinTheDeadline() async throws {
        try await withClient { client, server async throws in
            server.faults.inject(.delay(.milliseconds(300)), method: "GET")
            #expect(try await client.resource(ConfigMap.self).list(namespace: "n").items.isEmpty)
        }
    }

    @Test func requestDeadlineFailsSlowRequests() async throws {
        try await withClient(configure: { $0.requestTimeout = .milliseconds(200); $0.retry = .none }) { client, server in
            server.faults.inject(.delay(.seconds(2)), method: "GET")
            await #expect { try await client.resource(ConfigMap.self).list(namespace: "n") } throws: { ($0 as? KubeClientError)?.code == .transport }
        }
    }

    @Test func bearerTokenAndTLS() async throws {
        let tls = try TestTLS.generate()
        try await withClient(tls: tls, token: "s3cret") { client, server in
            #expect(server.url.scheme == "https")
            #expect(try await client.resource(ConfigMap.self).list(namespace: "n").items.isEmpty)
            var wrongToken = server.clientConfiguration()
            wrongToken.bearerToken = .literal("wrong")
            try await KubernetesClient.withClient(configuration: wrongToken) { other in
                await #expect { try await other.resource(ConfigMap.self).list(namespace: "n") } throws: { apiError($0) { $0.isUnauthorized } }
            }
            var untrusted = server.clientConfiguration()
            untrusted.certificateAuthorityPEM = nil
            untrusted.retry = .none
            try await KubernetesClient.withClient(configuration: untrusted) { other in
                await #expect { try await other.resource(ConfigMap.self).list(namespace: "n") } throws: { ($0 as? KubeClientError)?.code == .transport }
            }
        }
    }

    @Test func tokenFileIsReadForEveryClient() async throws {
        let dir = try TempDir()
        let tokenFile = try dir.write("token", "file-token\n")
        try await withClient(token: "file-token", configure: { $0.bearerToken = .file(tokenFile) }) { client, _ async throws in
            #expect(try await client.resource(ConfigMap.self).list(namespace: "n").items.isEmpty)
        }
    }

    @Test func badTLSMaterialIsAClearError() {
        let configuration = KubeClientConfiguration(server: URL(string: "https://127.0.0.1:1")!, certificateAuthorityPEM: Array("not a pem".utf8))
        #expect { _ = try KubernetesClient(configuration: configuration) } throws: { ($0 as? KubeClientError)?.code == .tls }
    }

    @Test func nonStatusErrorBodiesAreStillTypedErrors() {
        let error = KubeAPIError(code: 502, body: Array("<html>bad gateway</html>".utf8), retryAfter: "7", request: RequestDescription(verb: "GET", path: "/x"))
        #expect(error.code == 502)
        #expect(error.reason == "InternalError")
        #expect(error.message.contains("bad gateway"))
        #expect(error.retryAfterSeconds == 7)
        let gone = KubeAPIError(code: 410, body: Array(#"{"kind":"Status","status":"Failure","reason":"Expired","message":"too old","code":410}"#.utf8), retryAfter: nil, request: RequestDescription(verb: "GET", path: "/x"))
        #expect(gone.isGone && gone.message == "too old")
        #expect(KubeErrors.isGone(gone) && !KubeErrors.isNotFound(gone))
    }
}
