import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import ServiceLifecycleTestKit
import Testing

@Suite struct InformerTests {
    @Test func waitingForSyncEndsWhenTheWaiterIsCancelled() async throws {
        try await withClient { client, _ in
            // Never run: without cancellation the wait would never end.
            let informer = Informer(client: client.resource(Widget.self), reflector: fastReflector)
            let waiter = Task { await informer.waitForSync() }
            try await Task.sleep(for: .milliseconds(50))
            waiter.cancel()
            await waiter.value
            #expect(!informer.hasSynced)
        }
    }

    @Test func listsThenFollowsEveryChange() async throws {
        try await withClient { client, server in
            try server.seed(Widget(name: "a", namespace: "one"))
            try server.seed(Widget(name: "b", namespace: "one"))
            try server.seed(Widget(name: "c", namespace: "two"))
            let widgets = client.resource(Widget.self)
            let informer = Informer(client: widgets, reflector: fastReflector)
            let log = DeltaLog()
            informer.addHandler(log.handler())
            try await whileRunning([informer]) {
                await informer.waitForSync()
                #expect(informer.hasSynced)
                #expect(log.all == ["add a", "add b", "add c"])
                #expect(informer.store.list(namespace: "one").count == 2)

                _ = try await widgets.create(Widget(name: "d", namespace: "two"))
                _ = try await widgets.patch("a", namespace: "one", patch: .merge(["spec": ["size": 2]]))
                try await widgets.delete("b", namespace: "one")
                #expect(await eventually { informer.store.versions == server.versions(Widget.resource) })
                #expect(log.all == ["add a", "add b", "add c", "add d", "update a", "delete b"])
            }
        }
    }

    @Test(arguments: [false, true])
    func resumesAfterTheStreamEndsWithoutRelisting(abrupt: Bool) async throws {
        try await withClient { client, server in
            try server.seed(Widget(name: "a"))
            let widgets = client.resource(Widget.self)
            let informer = Informer(client: widgets, reflector: fastReflector)
            let log = DeltaLog()
            informer.addHandler(log.handler())
            try await whileRunning([informer]) {
                await informer.waitForSync()
                #expect(await eventually { server.openWatchCount == 1 })
                server.closeWatches(abrupt: abrupt)
                // Changes while no watch is open must arrive through the resumed watch.
                try server.seed(Widget(name: "b"))
                _ = try server.modify(Widget.self, namespace: "default", name: "a") { $0.spec = ["size": 3] }
                #expect(await eventually { informer.store.versions == server.versions(Widget.resource) })
                #expect(server.listCount("widgets") == 1, "a resumable watch is resumed, not relisted")
                let resumed = server.requests.filter { $0.query["watch"] == "true" }.count
                #expect(resumed >= 2)
                #expect(log.all == ["add a", "add b", "update a"])
            }
        }
    }

    /// The cache holds objects without managedFields, and an update from a cached copy leaves
    /// the server's managedFields as they were.
    @Test func managedFieldsStayOnTheServerNotInTheCache() async throws {
        try await withClient { client, _ in
            let widgets = client.resource(Widget.self)
            _ = try await widgets.apply(Widget(name: "owned", namespace: "one", spec: ["size": 1]), fieldManager: "alice")
            let informer = Informer(client: widgets, reflector: fastReflector)
            try await whileRunning([informer]) {
                await informer.waitForSync()
                let listed = try #require(informer.store.get(name: "owned", namespace: "one"))
                #expect(listed.metadata.managedFields == nil)
                _ = try await widgets.apply(Widget(name: "owned", namespace: "one", spec: ["size": 2]), fieldManager: "alice")
                #expect(await eventually { informer.store.get(name: "owned", namespace: "one")?.spec?["size"] == 2 })
                let watched = try #require(informer.store.get(name: "owned", namespace: "one"))
                #expect(watched.metadata.managedFields == nil)
                _ = try await widgets.update(cached: watched) { $0.metadata.labels = ["tier": "cached"] }
                let live = try await widgets.get("owned", namespace: "one")
                #expect(live.metadata.labels == ["tier": "cached"])
                #expect(live.metadata.managedFields?.first?["manager"] == "alice")
            }
        }
    }

    /// A transform trims what is cached, from the list and from every watch event, and the
    /// handlers see the trimmed objects.
    @Test func aTransformAppliesToListedAndWatchedObjects() async throws {
        try await withClient { client, server in
            try server.seed(Widget(name: "listed", spec: ["blob": .string(String(repeating: "x", count: 4096))]))
            let widgets = client.resource(Widget.self)
            let informer = Informer(client: widgets, reflector: fastReflector, transform: { widget in
                var widget = widget
                if let blob = widget.spec?["blob"] { widget.spec?["blob"] = .int(Int64(blob.stringValue?.count ?? 0)) }
                return widget
            })
            let log = DeltaLog()
            informer.addHandler(log.handler())
            try await whileRunning([informer]) {
                await informer.waitForSync()
                #expect(informer.store.get(name: "listed", namespace: "default")?.spec?["blob"] == 4096)
                _ = try await widgets.create(Widget(name: "watched", spec: ["blob": "abc"]))
                #expect(await eventually { informer.store.get(name: "watched", namespace: "default")?.spec?["blob"] == 3 })
                #expect(log.all.contains("add watched"))
            }
        }
    }

    @Test func relistsAfterGoneAndConvergesWithoutDuplicates() async throws {
        try await withClient { client, server in
            try server.seed(Widget(name: "a"))
            try server.seed(Widget(name: "b"))
            let widgets = client.resource(Widget.self)
            let informer = Informer(client: widgets, reflector: fastReflector)
            let log = DeltaLog()
            informer.addHandler(log.handler())
            try await whileRunning([informer]) {
                await informer.waitForSync()
                #expect(await eventually { server.openWatchCount == 1 })
                // Keep the informer disconnected while the world changes and history is compacted.
                server.faults.inject(.status(code: 500), method: "WATCH", times: 10_000)
                server.closeWatches()
                #expect(await eventually { server.requests.contains { $0.query["watch"] == "true" && $0.status == 500 } })
                _ = try server.modify(Widget.self, namespace: "default", name: "a") { $0.spec = ["size": 9] }
                try server.remove(Widget.resource, namespace: "default", name: "b")
                try server.seed(Widget(name: "c"))
                server.compactHistory()
                server.faults.clear()

                #expect(await eventually { informer.store.versions == server.versions(Widget.resource) })
                #expect(server.listCount("widgets") == 2, "resuming hit 410 Gone, which led to exactly one relist")
                #expect(Array(log.all.prefix(2)) == ["add a", "add b"])
                #expect(Set(log.all.dropFirst(2)) == ["update a", "delete b", "add c"])
                #expect(log.all.count == 5, "the relist repeats nothing handlers already saw")

                // And the informer keeps following changes after the relist.
                _ = try await widgets.create(Widget(name: "d"))
                #expect(await eventually { informer.store.get(name: "d", namespace: "default") != nil })
            }
        }
    }

    @Test func anExpiredErrorEventRelists() async throws {
        try await withClient { client, server in
            try server.seed(Widget(name: "a"))
            let widgets = client.resource(Widget.self)
            let informer = Informer(client: widgets, reflector: fastReflector)
            try await whileRunning([informer]) {
                await informer.waitForSync()
                #expect(await eventually { server.openWatchCount == 1 })
                server.expireWatches()
                #expect(await eventually { server.listCount("widgets") == 2 })
                _ = try await widgets.create(Widget(name: "b"))
                #expect(await eventually { informer.store.versions == server.versions(Widget.resource) })
            }
        }
    }

    @Test func listFailuresAreRetriedWithBackoff() async throws {
        try await withClient { client, server in
            try server.seed(Widget(name: "a"))
            server.faults.inject(.status(code: 403), method: "GET", pathContains: "widgets", times: 2)
            let informer = Informer(client: client.resource(Widget.self), reflector: fastReflector)
            try await whileRunning([informer]) {
                await informer.waitForSync()
                #expect(informer.store.count == 1)
                #expect(server.listCount("widgets") == 3)
            }
        }
    }

    @Test func namespaceAndLabelSelectorScopeTheCache() async throws {
        try await withClient { client, server in
            try server.seed(Widget(name: "in", namespace: "one", labels: ["app": "x"]))
            try server.seed(Widget(name: "other-label", namespace: "one", labels: ["app": "y"]))
            try server.seed(Widget(name: "other-namespace", namespace: "two", labels: ["app": "x"]))
            let widgets = client.resource(Widget.self)
            let informer = Informer(client: widgets, namespace: "one", labelSelector: "app=x", reflector: fastReflector)
            let log = DeltaLog()
            informer.addHandler(log.handler())
            try await whileRunning([informer]) {
                await informer.waitForSync()
                #expect(informer.store.keys.map(\.name) == ["in"])
                // Relabelling moves an object into and out of the cache.
                _ = try await widgets.patch("other-label", namespace: "one", patch: .merge(["metadata": ["labels": ["app": "x"]]]))
                _ = try await widgets.patch("in", namespace: "one", patch: .merge(["metadata": ["labels": ["app": "z"]]]))
                #expect(await eventually { informer.store.keys.map(\.name) == ["other-label"] })
                #expect(log.all == ["add in", "add other-label", "delete in"])
            }
        }
    }

    @Test func resyncRedeliversCachedObjectsAndLateHandlersSeeTheCache() async throws {
        try await withClient { client, server in
            try server.seed(Widget(name: "a"))
            let informer = Informer(client: client.resource(Widget.self), resyncPeriod: .milliseconds(50), reflector: fastReflector)
            try await whileRunning([informer]) {
                await informer.waitForSync()
                let late = DeltaLog()
                informer.addHandler(late.handler())
                #expect(late.all.first == "add a")
                #expect(await eventually { late.all.filter { $0 == "update a" }.count >= 2 })
            }
        }
    }
}

@Suite struct InformerShutdownTests {
    @Test func gracefulShutdownEndsTheInformerWithoutAnError() async throws {
        try await withClient { client, _ in
            let informer = Informer(client: client.resource(Widget.self), reflector: fastReflector)
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await informer.run() }
                    await informer.waitForSync()
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()
                }
            }
        }
    }
}
