import KubeModels
import KubeRuntime
import ServiceLifecycle

/// Events the webhook reports about ProfileRecordings, written by a background service so that
/// an admission never waits for the API server: a bounded buffer (the oldest are dropped when
/// the API is slow; events are best effort, as the ``EventRecorder`` itself).
public final class EventQueue: Service, Sendable {
    struct Item: Sendable {
        var reference: ObjectReference
        var type: EventRecorder.EventType
        var reason: String
        var message: String
    }

    private let recorder: EventRecorder?
    private let stream: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation

    /// `recorder` nil drops every event (tests of the handler alone).
    public init(recorder: EventRecorder?, capacity: Int = 1024) {
        self.recorder = recorder
        (stream, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingNewest(capacity))
    }

    func record<Object: KubeResource>(_ object: Object, type: EventRecorder.EventType, reason: String, message: String) {
        continuation.yield(Item(reference: ObjectReference(to: object), type: type, reason: reason, message: message))
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            for await item in self.stream {
                await self.recorder?.record(item.reference, type: item.type, reason: item.reason, message: item.message)
            }
        }
    }
}
