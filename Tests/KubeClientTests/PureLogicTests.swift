import Foundation
import KubeClient
import KubeModels
import NIOCore
import Testing

@Suite struct RequestPathTests {
    static let pods = GroupVersionResource(group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true)
    static let nodes = GroupVersionResource(group: "", version: "v1", resource: "nodes", kind: "Node", namespaced: false)
    static let profiles = GroupVersionResource(group: "security-profiles-operator.x-k8s.io", version: "v1beta1", resource: "seccompprofiles", kind: "SeccompProfile", namespaced: true)

    @Test func paths() {
        #expect(RequestPath.path(Self.pods, namespace: "ns") == "/api/v1/namespaces/ns/pods")
        #expect(RequestPath.path(Self.pods, namespace: nil) == "/api/v1/pods")
        #expect(RequestPath.path(Self.pods, namespace: "ns", name: "p", subresource: "status") == "/api/v1/namespaces/ns/pods/p/status")
        #expect(RequestPath.path(Self.nodes, namespace: "ignored", name: "n1") == "/api/v1/nodes/n1")
        #expect(RequestPath.path(Self.profiles, namespace: "x", name: "y") == "/apis/security-profiles-operator.x-k8s.io/v1beta1/namespaces/x/seccompprofiles/y")
        #expect(RequestPath.path(Self.pods, namespace: "ns", name: "a/b") == "/api/v1/namespaces/ns/pods/a%2Fb")
    }

    @Test func queryEncodesSelectors() {
        let options = ListOptions(labelSelector: "app in (a,b),!x", fieldSelector: "metadata.name=n", limit: 10, continue: "tok+/=", resourceVersion: "5", timeoutSeconds: 30, allowWatchBookmarks: true)
        #expect(RequestPath.query([("labelSelector", "app in (a,b),!x")]) == "?labelSelector=app%20in%20%28a%2Cb%29%2C%21x")
        let query = RequestPath.query(options.queryItems)
        #expect(query.contains("continue=tok%2B%2F%3D"))
        #expect(query.contains("allowWatchBookmarks=true"))
        #expect(query.contains("timeoutSeconds=30"))
        #expect(query.contains("limit=10"))
    }
}

@Suite struct BackoffTests {
    @Test func exponentialWithCap() {
        let backoff = Backoff(initial: .milliseconds(100), factor: 2, maximum: .seconds(1), jitter: 0)
        let delays = (1...6).map { backoff.delay(attempt: $0, random: 0.5) }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
    }

    @Test func jitterStaysInBounds() {
        let backoff = Backoff(initial: .seconds(1), factor: 2, maximum: .seconds(10), jitter: 0.2)
        #expect(backoff.delay(attempt: 1, random: 0) == .milliseconds(800))
        #expect(abs(backoff.delay(attempt: 1, random: 0.999_999).seconds - 1.2) < 0.001)
        for _ in 0..<100 {
            let delay = backoff.delay(attempt: 3).seconds
            #expect(delay >= 3.2 && delay <= 4.8)
        }
    }

    @Test func retryDecisions() {
        let policy = RetryPolicy(maxAttempts: 3, backoff: Backoff(initial: .milliseconds(10), maximum: .seconds(1), jitter: 0))
        #expect(policy.decide(attempt: 1, idempotent: false, statusCode: 429, retryAfterSeconds: 2, random: 0) == .retry(after: .seconds(2)))
        #expect(policy.decide(attempt: 1, idempotent: true, statusCode: 503, retryAfterSeconds: nil, random: 0) == .retry(after: .milliseconds(10)))
        #expect(policy.decide(attempt: 2, idempotent: true, statusCode: nil, retryAfterSeconds: nil, random: 0) == .retry(after: .milliseconds(20)))
        #expect(policy.decide(attempt: 1, idempotent: false, statusCode: 500, retryAfterSeconds: nil, random: 0) == .giveUp, "a create is never repeated after a 5xx")
        #expect(policy.decide(attempt: 1, idempotent: false, statusCode: nil, retryAfterSeconds: nil, random: 0) == .giveUp)
        #expect(policy.decide(attempt: 3, idempotent: true, statusCode: 503, retryAfterSeconds: nil, random: 0) == .giveUp, "attempts are capped")
        #expect(policy.decide(attempt: 1, idempotent: true, statusCode: 404, retryAfterSeconds: nil, random: 0) == .giveUp)
        #expect(policy.decide(attempt: 1, idempotent: true, statusCode: 429, retryAfterSeconds: 3600, random: 0) == .retry(after: .seconds(60)), "Retry-After is capped")
    }

    @Test func tokenBucketLimitsRate() {
        var bucket = TokenBucket(qps: 10, burst: 2)
        let start = ContinuousClock.now
        #expect(bucket.reserve(now: start) == .zero)
        #expect(bucket.reserve(now: start) == .zero)
        #expect(bucket.reserve(now: start) == .milliseconds(100), "third request waits one token interval")
        #expect(bucket.reserve(now: start) == .milliseconds(200), "reservations queue up")
        #expect(bucket.reserve(now: start + .seconds(10)) == .zero, "the bucket refills up to the burst")
    }

    @Test func throttledRequestsAreReleasedTogetherOncePerTick() {
        var bucket = TokenBucket(qps: 200, burst: 4)
        #expect(bucket.releaseTick == .milliseconds(20))
        #expect(TokenBucket(qps: 200, burst: 2).releaseTick == .milliseconds(10), "a tick never releases more than a burst")
        #expect(TokenBucket(qps: 200, burst: 400).releaseTick == .milliseconds(100), "the node daemon's budget")
        let start = ContinuousClock.now
        let waits = (0..<12).map { _ in bucket.reserve(now: start, releasingEvery: bucket.releaseTick) }
        #expect(waits.map { Int(($0.seconds * 1000).rounded()) } == [0, 0, 0, 0, 20, 20, 20, 20, 40, 40, 40, 40],
                "requests due 5 ms apart leave in groups of four every 20 ms")
        let later = start + .milliseconds(7)
        let wait = bucket.reserve(now: later, releasingEvery: bucket.releaseTick)
        #expect(Int(((later + wait - start).seconds * 1000).rounded()) == 60, "releases stay on the grid of the first reservation")
    }
}

@Suite struct WatchEventDecoderTests {
    let decoder = WatchEventDecoder<ConfigMap>()

    func decode(_ text: String) throws -> WatchEvent<ConfigMap> {
        try decoder.decode(ByteBuffer(string: text))
    }

    @Test func eventTypes() throws {
        let object = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"n","resourceVersion":"7"},"data":{"k":"v"}}"#
        guard case .added(let added) = try decode(#"{"type":"ADDED","object":\#(object)}"#) else { Issue.record("not added"); return }
        #expect(added.data == ["k": "v"])
        guard case .modified = try decode(#"{"type":"MODIFIED","object":\#(object)}"#) else { Issue.record("not modified"); return }
        guard case .deleted(let deleted) = try decode(#"{"type":"DELETED","object":\#(object)}"#) else { Issue.record("not deleted"); return }
        #expect(deleted.metadata.resourceVersion == "7")
        guard case .bookmark(let version) = try decode(#"{"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"12"}}}"#) else { Issue.record("not bookmark"); return }
        #expect(version == "12")
        guard case .error(let status) = try decode(#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}}"#) else { Issue.record("not error"); return }
        #expect(status.code == 410)
        #expect(status.reason == "Expired")
    }

    static let malformed = [
        #"{"type":"RENAMED","object":{}}"#,
        #"{"type":"ADDED"}"#,
        #"{"type":"BOOKMARK","object":{"metadata":{}}}"#,
        #"{"type":"ADDED","object":{"metadata":{"name":5}}}"#,
        "not json",
    ]

    @Test(arguments: malformed)
    func malformedLinesAreDecodingErrors(line: String) {
        #expect { try decode(line) } throws: { ($0 as? KubeClientError)?.code == .decoding }
    }
}
