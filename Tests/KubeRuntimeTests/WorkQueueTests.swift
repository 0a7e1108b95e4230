import KubeClient
import KubeRuntime
import KubeTestServer
import Testing

/// Drives a ``WorkQueueState`` with a script of operations and records each answer, so a test
/// reads as a transcript: "+a" adds, "next" hands out, "-a" marks done, "stop"/"stop!" shut down
/// (keeping/dropping queued keys).
func transcript<Key: Hashable & Sendable & CustomStringConvertible & LosslessStringConvertible>(
    _ state: inout WorkQueueState<Key>, _ script: [String]
) -> [String] {
    script.map { step in
        switch step.first {
        case "+": return state.add(Key(String(step.dropFirst()))!) ? "queued" : "no-op"
        case "-": return state.done(Key(String(step.dropFirst()))!) ? "requeued" : "finished"
        default:
            switch step {
            case "next": return state.next().map { "got \($0)" } ?? "empty"
            case "stop": state.shutDown(dropQueued: false); return "stopped"
            case "stop!": state.shutDown(dropQueued: true); return "stopped"
            default: preconditionFailure("unknown step \(step)")
            }
        }
    }
}

@Suite struct WorkQueueStateTests {
    @Test func keysComeOutInFIFOOrderAndAreDeduplicated() {
        var state = WorkQueueState<String>()
        #expect(transcript(&state, ["+a", "+b", "+a", "next", "next", "next"])
            == ["queued", "queued", "no-op", "got a", "got b", "empty"])
    }

    @Test func aKeyAddedWhileProcessingWaitsUntilDone() {
        var state = WorkQueueState<String>()
        // Re-adds while a worker holds "a" are remembered once and queued at done.
        #expect(transcript(&state, ["+a", "next", "+a", "+a", "next", "-a", "next", "-a", "next"])
            == ["queued", "got a", "no-op", "no-op", "empty", "requeued", "got a", "finished", "empty"])
        #expect(state.count == 0 && state.processingCount == 0)
    }

    @Test func shutdownKeepsOrDropsQueuedKeys() {
        var keep = WorkQueueState<Int>()
        #expect(transcript(&keep, ["+1", "+2", "stop", "+3", "next", "next", "next"])
            == ["queued", "queued", "stopped", "no-op", "got 1", "got 2", "empty"])

        var drop = WorkQueueState<Int>()
        #expect(transcript(&drop, ["+1", "+2", "next", "stop!", "next"]) == ["queued", "queued", "got 1", "stopped", "empty"])
        #expect(drop.processingCount == 1, "in-flight work is still tracked for draining")
        #expect(transcript(&drop, ["-1"]) == ["finished"])
        #expect(drop.processingCount == 0)
    }

    /// Property: for random interleavings, no key is ever handed out twice concurrently and
    /// every key added is eventually handed out after its last add.
    @Test func randomInterleavingsKeepTheInvariants() {
        var generator = SplitMix(seed: 42)
        for _ in 0..<200 {
            var state = WorkQueueState<Int>()
            var processing = Set<Int>()
            var pendingSinceLastHandOut = Set<Int>()
            for _ in 0..<300 {
                switch generator.next() % 3 {
                case 0:
                    let key = Int(generator.next() % 5)
                    state.add(key)
                    pendingSinceLastHandOut.insert(key)
                case 1:
                    if let key = state.next() {
                        #expect(!processing.contains(key))
                        processing.insert(key)
                        pendingSinceLastHandOut.remove(key)
                    }
                default:
                    if let key = processing.randomElement(using: &generator) {
                        processing.remove(key)
                        state.done(key)
                    }
                }
            }
            for key in processing { state.done(key) }
            var drained = Set<Int>()
            while let key = state.next() {
                drained.insert(key)
                state.done(key)
            }
            #expect(pendingSinceLastHandOut.isSubset(of: drained))
        }
    }
}

@Suite struct RateLimiterTests {
    @Test func perItemBackoffDoublesUpToTheCapAndForgetResets() {
        var limiter = ItemExponentialRateLimiter<String>(base: .milliseconds(5), maximum: .seconds(1))
        let delays = (0..<10).map { _ in limiter.when("a") }
        #expect(delays.prefix(4) == [.milliseconds(5), .milliseconds(10), .milliseconds(20), .milliseconds(40)])
        #expect(delays.last == .seconds(1))
        #expect(limiter.retries("a") == 10)
        let otherKey = limiter.when("b")
        #expect(otherKey == .milliseconds(5), "keys back off independently")
        limiter.forget("a")
        #expect(limiter.retries("a") == 0)
        let afterForget = limiter.when("a")
        #expect(afterForget == .milliseconds(5))
    }

    @Test func hugeFailureCountsStayAtTheCap() {
        var limiter = ItemExponentialRateLimiter<Int>(base: .milliseconds(5), maximum: .seconds(1000))
        var last = Duration.zero
        for _ in 0..<100 { last = limiter.when(1) }
        #expect(last == .seconds(1000))
    }

    @Test func controllerLimiterTakesTheLargerOfBackoffAndBucket() {
        var limiter = ControllerRateLimiter<Int>(perItem: .init(base: .milliseconds(1), maximum: .seconds(10)), overall: TokenBucket(qps: 10, burst: 2))
        let now = ContinuousClock.now
        let first = limiter.when(1, now: now)
        let second = limiter.when(2, now: now)
        #expect(first == .milliseconds(1) && second == .milliseconds(1), "within the burst only per-item backoff applies")
        // The bucket is empty now: the third distinct key waits for a token (100 ms at 10 qps).
        let third = limiter.when(3, now: now)
        #expect(abs(third.seconds - 0.1) < 1e-6)
    }
}

@Suite struct WorkQueueTests {
    @Test func getSuspendsUntilAKeyIsAdded() async {
        let queue = WorkQueue<String>()
        async let key = queue.get()
        try? await Task.sleep(for: .milliseconds(20))
        queue.add("x")
        #expect(await key == "x")
    }

    @Test func twoWorkersNeverHoldTheSameKey() async {
        let queue = WorkQueue<Int>()
        let inFlight = Locked<Set<Int>>([])
        let violations = Locked(0)
        let processed = Locked(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    while let key = await queue.get() {
                        let fresh = inFlight.withLock { $0.insert(key).inserted }
                        if !fresh { violations.withLock { $0 += 1 } }
                        await Task.yield()
                        inFlight.withLock { _ = $0.remove(key) }
                        processed.withLock { $0 += 1 }
                        queue.done(key)
                    }
                }
            }
            for round in 0..<2000 {
                queue.add(round % 7)
                if round % 50 == 0 { await Task.yield() }
            }
            await queue.shutDownWithDrain()
        }
        #expect(violations.value == 0)
        #expect(processed.value >= 7)
    }

    @Test func delayedAddsArriveAfterTheirDelayAndTheEarlierTimeWins() async {
        let queue = WorkQueue<String>()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await queue.run() }
            let start = ContinuousClock.now
            queue.add("late", after: .seconds(30))
            queue.add("late", after: .milliseconds(50))
            queue.add("later", after: .milliseconds(150))
            queue.add("later", after: .seconds(30))
            #expect(queue.delayedCount == 2)
            #expect(await queue.get() == "late")
            #expect(ContinuousClock.now - start >= .milliseconds(50))
            #expect(await queue.get() == "later")
            #expect(ContinuousClock.now - start >= .milliseconds(150))
            #expect(ContinuousClock.now - start < .seconds(10), "the earlier schedule wins")
            queue.shutDown()
        }
    }

    @Test func keysDueTogetherArriveInDeadlineOrder() async throws {
        let queue = WorkQueue<String>()
        for (key, milliseconds) in [("c", 30), ("a", 10), ("b", 20)] { queue.add(key, after: .milliseconds(milliseconds)) }
        // Everything is due before the pump first looks.
        try await Task.sleep(for: .milliseconds(60))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await queue.run() }
            var order: [String] = []
            for _ in 0..<3 { order.append(await queue.get() ?? "") }
            #expect(order == ["a", "b", "c"])
            queue.shutDown()
        }
    }

    @Test func rateLimitedAddsBackOffPerKey() async {
        let queue = WorkQueue<String>(rateLimiter: ControllerRateLimiter(perItem: .init(base: .milliseconds(20), maximum: .seconds(5))))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await queue.run() }
            var gaps: [Duration] = []
            for _ in 0..<3 {
                let start = ContinuousClock.now
                queue.addRateLimited("k")
                let key = await queue.get()
                gaps.append(ContinuousClock.now - start)
                queue.done(key!)
            }
            #expect(queue.retries("k") == 3)
            #expect(gaps[0] >= .milliseconds(20))
            #expect(gaps[1] >= .milliseconds(40))
            #expect(gaps[2] >= .milliseconds(80))
            queue.forget("k")
            #expect(queue.retries("k") == 0)
            queue.shutDown()
        }
    }

    @Test func shutdownReleasesWaitersAndDrainWaitsForInFlightWork() async {
        let queue = WorkQueue<Int>()
        queue.add(1)
        let held = await queue.get()
        #expect(held == 1)
        let drained = Locked(false)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await queue.shutDownWithDrain()
                drained.withLock { $0 = true }
            }
            group.addTask { #expect(await queue.get() == nil) }
            try? await Task.sleep(for: .milliseconds(50))
                #expect(!drained.value, "drain waits for the held key")
            queue.add(2)
            #expect(queue.count == 0, "adds after shutdown are ignored")
            queue.done(1)
        }
        #expect(drained.value)
    }

    @Test func cancellingAWaitingGetReturnsNil() async {
        let queue = WorkQueue<Int>()
        let task = Task { await queue.get() }
        try? await Task.sleep(for: .milliseconds(20))
        task.cancel()
        #expect(await task.value == nil)
        queue.add(5)
        #expect(await queue.get() == 5, "the cancelled waiter did not swallow the key")
    }
}
