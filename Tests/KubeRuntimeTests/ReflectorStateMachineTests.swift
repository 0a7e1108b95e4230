import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import Testing

/// A wait action with its delay rounded to milliseconds (delays are computed in floating point).
struct Wait: Equatable {
    var seconds: Double
    var next: ReflectorStateMachine.Next
}

func wait(_ action: ReflectorStateMachine.Action) -> Wait? {
    guard case .wait(let delay, let next) = action else { return nil }
    return Wait(seconds: (delay.seconds * 1000).rounded() / 1000, next: next)
}

@Suite struct ReflectorStateMachineTests {
    let configuration = ReflectorStateMachine.Configuration(minimumWatchTimeout: .seconds(300))

    @Test func listsThenWatchesFromTheListVersion() {
        var machine = ReflectorStateMachine(configuration: configuration)
        #expect(machine.start() == .list)
        #expect(!machine.hasSynced)
        #expect(machine.listSucceeded(resourceVersion: "10", random: 0) == .watch(resourceVersion: "10", timeoutSeconds: 300))
        #expect(machine.hasSynced)
    }

    @Test func watchTimeoutIsJitteredBetweenOnceAndTwiceTheMinimum() {
        var machine = ReflectorStateMachine(configuration: configuration)
        #expect(machine.listSucceeded(resourceVersion: "1", random: 0.999) == .watch(resourceVersion: "1", timeoutSeconds: 599))
        #expect(machine.watchEnded(random: 0.5) == .watch(resourceVersion: "1", timeoutSeconds: 450))
    }

    @Test func aClosedWatchResumesFromTheLastSeenVersionIncludingBookmarks() {
        var machine = ReflectorStateMachine(configuration: configuration)
        _ = machine.listSucceeded(resourceVersion: "10", random: 0)
        machine.eventReceived(resourceVersion: "12")
        machine.eventReceived(resourceVersion: "15")
        machine.eventReceived(resourceVersion: nil)
        machine.eventReceived(resourceVersion: "")
        #expect(machine.lastResourceVersion == "15")
        #expect(machine.watchEnded(random: 0) == .watch(resourceVersion: "15", timeoutSeconds: 300))
    }

    @Test func goneRelistsAtOnceWithoutBackoff() {
        var machine = ReflectorStateMachine(configuration: configuration)
        _ = machine.listSucceeded(resourceVersion: "10", random: 0)
        #expect(machine.watchFailed(gone: true, now: .now, random: 0) == .list)
        #expect(machine.lastResourceVersion == nil)
        #expect(machine.hasSynced, "the cache stays usable while relisting")
    }

    @Test func otherWatchFailuresBackOffAndResumeFromTheLastVersion() {
        var machine = ReflectorStateMachine(configuration: configuration)
        _ = machine.listSucceeded(resourceVersion: "7", random: 0)
        let now = ContinuousClock.now
        #expect(wait(machine.watchFailed(gone: false, now: now, random: 0)) == Wait(seconds: 0.8, next: .watch(resourceVersion: "7", timeoutSeconds: 300)))
        #expect(wait(machine.watchFailed(gone: false, now: now + .seconds(1), random: 0)) == Wait(seconds: 1.6, next: .watch(resourceVersion: "7", timeoutSeconds: 300)))
        // Full jitter: random 1 doubles the base delay.
        #expect(wait(machine.watchFailed(gone: false, now: now + .seconds(2), random: 0.999_999))?.seconds == 6.4)
    }

    @Test func backoffIsCappedAtThirtySeconds() {
        var machine = ReflectorStateMachine(configuration: configuration)
        let now = ContinuousClock.now
        var last: ReflectorStateMachine.Action = .list
        for step in 0..<20 { last = machine.listFailed(now: now + .seconds(step), random: 0) }
        #expect(wait(last) == Wait(seconds: 30, next: .list))
    }

    @Test func backoffResetsAfterTwoQuietMinutes() {
        var machine = ReflectorStateMachine(configuration: configuration)
        let now = ContinuousClock.now
        for step in 0..<5 { _ = machine.listFailed(now: now + .seconds(step), random: 0) }
        #expect(wait(machine.listFailed(now: now + .seconds(200), random: 0)) == Wait(seconds: 0.8, next: .list))
    }

    @Test func aFailureBeforeTheFirstListRelists() {
        var machine = ReflectorStateMachine(configuration: configuration)
        #expect(wait(machine.listFailed(now: .now, random: 0)) == Wait(seconds: 0.8, next: .list))
        #expect(machine.watchEnded(random: 0) == .list)
        guard case .wait(_, .list) = machine.watchFailed(gone: false, now: .now, random: 0) else {
            Issue.record("expected a wait then a list")
            return
        }
    }
}

@Suite struct StoreTests {
    func widget(_ name: String, namespace: String = "default", version: String) -> Widget {
        var widget = Widget(name: name, namespace: namespace)
        widget.metadata.resourceVersion = version
        return widget
    }

    @Test func upsertAndDeleteReportTheirDeltas() {
        let store = Store<Widget>()
        guard case .added = store.upsert(widget("a", version: "1")) else { Issue.record("expected add"); return }
        guard case .updated(let old, let new) = store.upsert(widget("a", version: "2")) else { Issue.record("expected update"); return }
        #expect(old.metadata.resourceVersion == "1" && new.metadata.resourceVersion == "2")
        #expect(store.delete(widget("missing", version: "3")) == nil)
        guard case .deleted = store.delete(widget("a", version: "3")) else { Issue.record("expected delete"); return }
        #expect(store.count == 0)
    }

    @Test func namespaceIndexListsOneNamespace() {
        let store = Store<Widget>()
        _ = store.upsert(widget("a", namespace: "one", version: "1"))
        _ = store.upsert(widget("b", namespace: "one", version: "2"))
        _ = store.upsert(widget("c", namespace: "two", version: "3"))
        #expect(Set(store.list(namespace: "one").compactMap(\.metadata.name)) == ["a", "b"])
        #expect(store.list(namespace: "two").count == 1)
        #expect(store.list(namespace: "three").isEmpty)
        _ = store.delete(widget("c", namespace: "two", version: "4"))
        #expect(store.list(namespace: "two").isEmpty)
        #expect(store.get(name: "a", namespace: "one")?.metadata.resourceVersion == "1")
    }

    @Test func replaceEmitsOnlyRealChanges() {
        let store = Store<Widget>()
        _ = store.replace(with: [widget("same", version: "1"), widget("changed", version: "2"), widget("gone", version: "3")])
        let deltas = store.replace(with: [widget("same", version: "1"), widget("changed", version: "5"), widget("new", version: "6")])
        let summary = deltas.map { delta -> String in
            switch delta {
            case .added(let object): return "add \(object.metadata.name!)"
            case .updated(_, let new): return "update \(new.metadata.name!)"
            case .deleted(let object): return "delete \(object.metadata.name!)"
            }
        }
        #expect(Set(summary) == ["update changed", "add new", "delete gone"])
        #expect(Set(store.keys.map(\.name)) == ["same", "changed", "new"])
    }
}
