import Foundation
import KubeClient
import KubeModels
import KubeTestServer
import Testing

/// Collects up to `count` events from a watch.
func collect<O>(_ stream: WatchStream<O>, count: Int) async throws -> [WatchEvent<O>] {
    var events: [WatchEvent<O>] = []
    for try await event in stream {
        events.append(event)
        if events.count == count { break }
    }
    return events
}

func summary<O: KubeResource>(_ event: WatchEvent<O>) -> String {
    switch event {
    case .added(let object): return "ADDED \(object.metadata.name ?? "")"
    case .modified(let object): return "MODIFIED \(object.metadata.name ?? "")"
    case .deleted(let object): return "DELETED \(object.metadata.name ?? "")"
    case .bookmark: return "BOOKMARK"
    case .error(let status): return "ERROR \(status.code ?? 0)"
    }
}

@Suite struct WatchClientTests {
    @Test func watchFromAListResourceVersionSeesLaterChangesOnly() async throws {
        try await withClient { client, server in
            let widgets = client.resource(Widget.self)
            _ = try await widgets.create(Widget(name: "before"))
            let list = try await widgets.list(namespace: "default")
            let stream = try await widgets.watch(namespace: "default", options: ListOptions(resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 30))
            async let events = collect(stream, count: 3)
            _ = try await widgets.create(Widget(name: "after"))
            _ = try await widgets.patch("after", namespace: "default", patch: .merge(["spec": ["x": 1]]))
            try await widgets.delete("before", namespace: "default")
            #expect(try await events.map(summary) == ["ADDED after", "MODIFIED after", "DELETED before"])
        }
    }

    @Test func watchWithoutVersionStartsWithSyntheticAdds() async throws {
        try await withClient { client, _ in
            let widgets = client.resource(Widget.self)
            _ = try await widgets.create(Widget(name: "one"))
            _ = try await widgets.create(Widget(name: "two"))
            let stream = try await widgets.watch(namespace: "default", options: ListOptions(timeoutSeconds: 30))
            #expect(try await collect(stream, count: 2).map(summary) == ["ADDED one", "ADDED two"])
        }
    }

    @Test func labelSelectorTurnsTransitionsIntoAddsAndDeletes() async throws {
        try await withClient { client, _ in
            let widgets = client.resource(Widget.self)
            let list = try await widgets.list(namespace: "default")
            let stream = try await widgets.watch(namespace: "default", options: ListOptions(labelSelector: "pick=yes", resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 30))
            async let events = collect(stream, count: 2)
            _ = try await widgets.create(Widget(name: "w", labels: ["pick": "no"]))
            _ = try await widgets.patch("w", namespace: "default", patch: .merge(["metadata": ["labels": ["pick": "yes"]]]))
            _ = try await widgets.patch("w", namespace: "default", patch: .merge(["metadata": ["labels": ["pick": "no"]]]))
            #expect(try await events.map(summary) == ["ADDED w", "DELETED w"])
        }
    }

    @Test func bookmarksCarryTheCurrentVersion() async throws {
        try await withClient { client, server in
            let widgets = client.resource(Widget.self)
            _ = try await widgets.create(Widget(name: "b"))
            let stream = try await widgets.watch(namespace: "default", options: ListOptions(resourceVersion: String(server.resourceVersion), timeoutSeconds: 30, allowWatchBookmarks: true))
            async let events = collect(stream, count: 1)
            while server.openWatchCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
            server.sendBookmarks()
            guard case .bookmark(let version) = try await events.first else { Issue.record("expected a bookmark"); return }
            #expect(version == String(server.resourceVersion))
        }
    }

    @Test func compactedVersionEndsWithExpiredError() async throws {
        try await withClient { client, server in
            let widgets = client.resource(Widget.self)
            let old = try await widgets.create(Widget(name: "c"))
            _ = try await widgets.create(Widget(name: "d"))
            server.compactHistory()
            let stream = try await widgets.watch(namespace: "default", options: ListOptions(resourceVersion: old.metadata.resourceVersion, timeoutSeconds: 30))
            let events = try await collect(stream, count: 5)
            #expect(events.map(summary) == ["ERROR 410"], "one ERROR event, then the stream ends")
        }
    }

    @Test func serverTimeoutEndsTheStreamCleanly() async throws {
        try await withClient { client, _ in
            let stream = try await client.resource(Widget.self).watch(namespace: "default", options: ListOptions(resourceVersion: "0", timeoutSeconds: 1))
            #expect(try await collect(stream, count: 1).isEmpty)
        }
    }

    @Test func droppedConnectionIsATransportError() async throws {
        try await withClient { client, server in
            let stream = try await client.resource(Widget.self).watch(namespace: "default", options: ListOptions(resourceVersion: "0", timeoutSeconds: 30))
            async let events = collect(stream, count: 1)
            while server.openWatchCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
            server.closeWatches(abrupt: true)
            let outcome: Result<[WatchEvent<Widget>], any Error>
            do { outcome = .success(try await events) } catch { outcome = .failure(error) }
            guard case .failure(let error) = outcome else { Issue.record("the watch ended without an error"); return }
            #expect((error as? KubeClientError)?.code == .transport)
        }
    }

    @Test func oversizedEventFailsTheWatchInsteadOfGrowingMemory() async throws {
        try await withClient(configure: { $0.maximumWatchEventSize = 4096 }) { client, _ in
            let configMaps = client.resource(ConfigMap.self)
            _ = try await configMaps.create(ConfigMap(metadata: ObjectMeta(name: "big", namespace: "n"), data: ["k": String(repeating: "x", count: 10_000)]))
            let stream = try await configMaps.watch(namespace: "n", options: ListOptions(timeoutSeconds: 30))
            await #expect { _ = try await collect(stream, count: 1) } throws: { ($0 as? KubeClientError)?.code == .watchEventTooLarge }
        }
    }

    @Test func watchOpenFailureIsATypedError() async throws {
        try await withClient(configure: { $0.retry = .none }) { client, server in
            server.faults.inject(.status(code: 500), method: "WATCH")
            await #expect { _ = try await client.resource(Widget.self).watch(namespace: "default") } throws: { ($0 as? KubeAPIError)?.code == 500 }
        }
    }
}
