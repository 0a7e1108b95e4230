import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import SPOServer
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import KubeTestServer
import Testing

/// GETs `url` and returns the status code and body text.
func get(_ url: String) async throws -> (Int, String) {
    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 1 << 20)
    return (Int(response.status.code), String(buffer: body))
}

@Suite struct HealthServerTests {
    @Test func probesAnswerAndReadinessFollowsItsChecks() async throws {
        let ready = Locked(false)
        let port = Locked<Int?>(nil)
        let server = HealthServer(
            host: "127.0.0.1", port: 0,
            checks: [.init(name: "informers-synced") { ready.value }, .init(name: "always") { true }],
            logger: Logger(label: "test"),
            onListening: { bound in port.withLock { $0 = bound } })
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                while port.value == nil { try await Task.sleep(for: .milliseconds(10)) }
                let base = "http://127.0.0.1:\(port.value!)"

                #expect(try await get("\(base)/healthz") == (200, "ok"))
                #expect(try await get("\(base)/readyz") == (503, "not ready: informers-synced"))
                ready.withLock { $0 = true }
                #expect(try await get("\(base)/readyz") == (200, "ok"))
                #expect(try await get("\(base)/nothing").0 == 404)

                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }
}
