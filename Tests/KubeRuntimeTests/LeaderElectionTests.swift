import Foundation
import KubeClient
import KubeModels
import KubeRuntime
import KubeTestServer
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing

@Suite struct LeaderElectionStateMachineTests {
    let start = ContinuousClock.now
    let wall = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func createsTheLeaseWhenThereIsNone() {
        var machine = LeaderElectionStateMachine(identity: "a", leaseDuration: .seconds(15))
        guard case .create(let spec) = machine.decide(current: nil, now: start, wallClock: wall) else {
            Issue.record("expected create")
            return
        }
        #expect(spec.holderIdentity == "a")
        #expect(spec.leaseDurationSeconds == 15)
        #expect(spec.leaseTransitions == 0)
        #expect(spec.acquireTime == "2023-11-14T22:13:20.000000Z")
        #expect(spec.renewTime == spec.acquireTime)
    }

    @Test func aLiveLeaseOfAnotherHolderIsRespectedUntilItStopsChanging() {
        var machine = LeaderElectionStateMachine(identity: "b", leaseDuration: .seconds(15))
        let theirs = LeaseSpec(holderIdentity: "a", leaseDurationSeconds: 10, acquireTime: "t0", renewTime: "t0", leaseTransitions: 3)
        #expect(machine.decide(current: theirs, now: start, wallClock: wall) == .heldByOther(holder: "a"))
        #expect(machine.decide(current: theirs, now: start + .seconds(9), wallClock: wall) == .heldByOther(holder: "a"))
        // A renewal (the record changed) restarts the local expiry timer.
        var renewed = theirs
        renewed.renewTime = "t9"
        #expect(machine.decide(current: renewed, now: start + .seconds(9), wallClock: wall) == .heldByOther(holder: "a"))
        #expect(machine.decide(current: renewed, now: start + .seconds(18), wallClock: wall) == .heldByOther(holder: "a"))
        // Ten seconds (their duration) without change: the lease is taken over.
        guard case .update(let taken) = machine.decide(current: renewed, now: start + .seconds(19), wallClock: wall) else {
            Issue.record("expected a takeover")
            return
        }
        #expect(taken.holderIdentity == "b")
        #expect(taken.leaseTransitions == 4)
        #expect(taken.acquireTime == taken.renewTime)
    }

    @Test func renewingKeepsAcquireTimeAndTransitions() {
        var machine = LeaderElectionStateMachine(identity: "a", leaseDuration: .seconds(15))
        let mine = LeaseSpec(holderIdentity: "a", leaseDurationSeconds: 15, acquireTime: "first", renewTime: "first", leaseTransitions: 2)
        machine.written(mine, now: start)
        guard case .update(let renewed) = machine.decide(current: mine, now: start + .seconds(2), wallClock: wall) else {
            Issue.record("expected a renewal")
            return
        }
        #expect(renewed.acquireTime == "first")
        #expect(renewed.renewTime != "first")
        #expect(renewed.leaseTransitions == 2)
    }

    @Test func aReleasedLeaseIsTakenAtOnce() {
        var machine = LeaderElectionStateMachine(identity: "b", leaseDuration: .seconds(15))
        let released = LeaseSpec(holderIdentity: "", leaseDurationSeconds: 1, acquireTime: "x", renewTime: "x", leaseTransitions: 1)
        guard case .update(let taken) = machine.decide(current: released, now: start, wallClock: wall) else {
            Issue.record("expected a takeover")
            return
        }
        #expect(taken.holderIdentity == "b")
        #expect(taken.leaseTransitions == 2)
    }

    @Test func releaseOnlyGivesUpOurOwnLease() {
        let machine = LeaderElectionStateMachine(identity: "a", leaseDuration: .seconds(15))
        let mine = LeaseSpec(holderIdentity: "a", leaseDurationSeconds: 15, acquireTime: "t", renewTime: "t", leaseTransitions: 5)
        let released = machine.release(current: mine, wallClock: wall)
        #expect(released?.holderIdentity == "")
        #expect(released?.leaseDurationSeconds == 1)
        #expect(released?.leaseTransitions == 5)
        #expect(machine.release(current: LeaseSpec(holderIdentity: "b"), wallClock: wall) == nil)
    }
}

@Suite struct LeaderElectorTests {
    func elector(_ identity: String, client: KubernetesClient, leaseDuration: Duration = .seconds(2)) -> LeaderElector {
        LeaderElector(client: client, configuration: .init(
            leaseName: "spo-lock", namespace: "default", identity: identity,
            leaseDuration: leaseDuration, renewDeadline: leaseDuration * 0.75, retryPeriod: .milliseconds(100)))
    }

    func holder(_ server: KubeTestServer) -> String? {
        server.object(Lease.self, namespace: "default", name: "spo-lock")?.spec?.holderIdentity
    }

    @Test func gracefulShutdownHandsTheLeaseOverAtOnce() async throws {
        try await withClient { client, server in
            // A long lease: B can only lead quickly if A really released it.
            let a = elector("a", client: client, leaseDuration: .seconds(30))
            let b = elector("b", client: client, leaseDuration: .seconds(30))
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await a.run() }
                    #expect(await a.waitUntilLeader())
                    #expect(holder(server) == "a")
                    // Detached: B must not inherit A's graceful-shutdown trigger.
                    let runB = Task.detached { try await b.run() }
                    defer { runB.cancel() }
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(!b.isLeader, "b waits while a renews")
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()
                    #expect(!a.isLeader)
                    #expect(await eventually { b.isLeader })
                    #expect(holder(server) == "b")
                    #expect(server.object(Lease.self, namespace: "default", name: "spo-lock")?.spec?.leaseTransitions == 1)
                }
            }
        }
    }

    @Test func aCrashedLeaderIsReplacedAfterTheLeaseExpires() async throws {
        try await withClient { client, server in
            let a = elector("a", client: client)
            let b = elector("b", client: client)
            let crashed = Task { try await a.run() }
            #expect(await a.waitUntilLeader())
            try await whileRunning([b]) {
                // Cancellation is a crash: no release, so b must wait for expiry.
                crashed.cancel()
                _ = try? await crashed.value
                #expect(holder(server) == "a")
                let cancelledAt = ContinuousClock.now
                #expect(await b.waitUntilLeader())
                #expect(ContinuousClock.now - cancelledAt >= .seconds(1), "b waited for the lease to expire")
                #expect(holder(server) == "b")
            }
        }
    }

    @Test func aLeaderThatCannotRenewStepsDown() async throws {
        try await withClient { client, server in
            let a = elector("a", client: client)
            let run = Task { try await a.run() }
            #expect(await a.waitUntilLeader())
            // Another party takes the lease over (e.g. after a network partition).
            _ = try server.modify(Lease.self, namespace: "default", name: "spo-lock") {
                $0.spec?.holderIdentity = "intruder"
                $0.spec?.leaseDurationSeconds = 60
            }
            await #expect(throws: LeaderElectionError.self) { try await run.value }
            #expect(!a.isLeader)
            #expect(holder(server) == "intruder")
        }
    }
}
