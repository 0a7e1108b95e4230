import Foundation
import KubeClient
import KubeModels
import Logging
import Synchronization

/// Records core/v1 Events about objects, as `kubectl describe` shows them. Repeats of the same
/// event (same object, type, reason and message) increase `count` on the existing Event
/// instead of creating new ones. Recording is best effort: failures are logged, never thrown.
public final class EventRecorder: Sendable {
    /// `Normal` or `Warning`.
    public enum EventType: String, Sendable {
        case normal = "Normal"
        case warning = "Warning"
    }

    private struct AggregateKey: Hashable {
        var object: ObjectReference
        var type: EventType
        var reason: String
        var message: String
    }

    private struct Aggregate {
        var name: String
        var namespace: String
        var count: Int
    }

    private let events: ResourceClient<Event>
    private let component: String
    private let host: String?
    private let logger: Logger
    private let cache = Mutex<[AggregateKey: Aggregate]>([:])
    static let cacheLimit = 4096

    public init(client: KubernetesClient, component: String, host: String? = nil, logger: Logger = Logger(label: "kube.events")) {
        self.events = client.resource(Event.self)
        self.component = component
        self.host = host
        self.logger = logger
    }

    /// Records an event about `object`.
    public func record<Object: KubeResource>(_ object: Object, type: EventType, reason: String, message: String) async {
        await record(ObjectReference(to: object), type: type, reason: reason, message: message)
    }

    /// Records an event about the referenced object.
    public func record(_ reference: ObjectReference, type: EventType, reason: String, message: String) async {
        var reference = reference
        reference.resourceVersion = nil
        let key = AggregateKey(object: reference, type: type, reason: reason, message: message)
        let now = KubeTime.format(Date())
        if let existing = cache.withLock({ $0[key] }) {
            let count = existing.count + 1
            do {
                _ = try await events.patch(
                    existing.name, namespace: existing.namespace,
                    patch: .merge(["count": .int(Int64(count)), "lastTimestamp": .string(now)]))
                cache.withLock { $0[key]?.count = count }
                return
            } catch let error as KubeAPIError where error.isNotFound {
                // The event expired on the server (events have a TTL): start a new one.
            } catch {
                logger.warning("kube.events.update_failed", metadata: ["error": "\(error)", "reason": "\(reason)"])
                return
            }
        }
        let namespace = reference.namespace ?? "default"
        let name = "\(reference.name ?? "object").\(String(UInt64(Date().timeIntervalSince1970 * 1e9), radix: 16))"
        var event = Event(
            metadata: ObjectMeta(name: name, namespace: namespace),
            involvedObject: reference, reason: reason, message: message, type: type.rawValue)
        event.source = EventSource(component: component, host: host)
        event.reportingComponent = component
        event.reportingInstance = host
        event.count = 1
        event.firstTimestamp = now
        event.lastTimestamp = now
        do {
            try await events.createDiscardingResult(event)
            cache.withLock { cache in
                if cache.count >= Self.cacheLimit { cache.removeAll() }
                cache[key] = Aggregate(name: name, namespace: namespace, count: 1)
            }
        } catch {
            logger.warning("kube.events.create_failed", metadata: ["error": "\(error)", "reason": "\(reason)"])
        }
    }
}
