import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import Testing

@Suite struct EventRecorderTests {
    func events(_ server: KubeTestServer) throws -> [Event] {
        try server.objects(Event.resource).map { try $0.decode(as: Event.self) }
    }

    @Test func repeatsAreAggregatedIntoACount() async throws {
        try await withClient { client, server in
            let widget = try server.seed(Widget(name: "w", namespace: "apps"))
            let recorder = EventRecorder(client: client, component: "spod", host: "node-1")
            await recorder.record(widget, type: .warning, reason: "SavingProfileFailed", message: "disk full")
            await recorder.record(widget, type: .warning, reason: "SavingProfileFailed", message: "disk full")
            await recorder.record(widget, type: .normal, reason: "SavedSeccompProfile", message: "saved")

            let stored = try events(server)
            #expect(stored.count == 2)
            let failed = try #require(stored.first { $0.reason == "SavingProfileFailed" })
            #expect(failed.count == 2)
            #expect(failed.type == "Warning")
            #expect(failed.message == "disk full")
            #expect(failed.metadata.namespace == "apps")
            #expect(failed.involvedObject.kind == "Widget")
            #expect(failed.involvedObject.name == "w")
            #expect(failed.involvedObject.uid == widget.metadata.uid)
            #expect(failed.source?.component == "spod")
            #expect(failed.source?.host == "node-1")
            #expect(failed.firstTimestamp != nil && failed.lastTimestamp != nil)
            #expect(stored.first { $0.reason == "SavedSeccompProfile" }?.count == 1)
        }
    }

    @Test func anExpiredEventIsRecreated() async throws {
        try await withClient { client, server in
            let widget = try server.seed(Widget(name: "w"))
            let recorder = EventRecorder(client: client, component: "spod")
            await recorder.record(widget, type: .normal, reason: "R", message: "m")
            let first = try #require(try events(server).first)
            try server.remove(Event.resource, namespace: "default", name: first.metadata.name!)
            await recorder.record(widget, type: .normal, reason: "R", message: "m")
            let stored = try events(server)
            #expect(stored.count == 1)
            #expect(stored.first?.count == 1)
        }
    }

    @Test func recordingFailuresNeverThrow() async throws {
        try await withClient { client, server in
            server.faults.inject(.status(code: 403), method: "POST", pathContains: "events", times: 10)
            let recorder = EventRecorder(client: client, component: "spod")
            await recorder.record(Widget(name: "w"), type: .normal, reason: "R", message: "m")
            let stored = try events(server)
            #expect(stored.isEmpty)
        }
    }
}
