import Foundation
import KubeTestServer
import Logging
import ProcFS
import SPOServer
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

@Suite struct ResidentPagesTests {
    @Test func onlyPrivateReadableFileMappingsAreReleased() {
        let maps = """
            55d0c0000000-55d0c1000000 r--p 00000000 fd:01 1234                       /usr/bin/security-profiles-operator
            55d0c1000000-55d0c2000000 r-xp 01000000 fd:01 1234                       /usr/bin/security-profiles-operator
            55d0c2000000-55d0c2100000 rw-p 02000000 fd:01 1234                       /usr/bin/security-profiles-operator
            55d0c3000000-55d0c3400000 rw-p 00000000 00:00 0                          [heap]
            7f0000000000-7f0000100000 rw-p 00000000 00:00 0 
            7f0000100000-7f0000200000 r--s 00000000 00:05 99                         /dev/shm/shared
            7f0000200000-7f0000201000 ---p 00000000 fd:01 77                         /usr/lib/libc.so.6
            7f0000300000-7f0000400000 r-xp 00028000 fd:01 77                         /usr/lib/x86_64-linux-gnu/libc.so.6
            7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]
            """
        let ranges = ResidentPages.privateFileMappings(maps)
        #expect(ranges == [
            .init(start: 0x55d0_c000_0000, end: 0x55d0_c100_0000),
            .init(start: 0x55d0_c100_0000, end: 0x55d0_c200_0000),
            .init(start: 0x55d0_c200_0000, end: 0x55d0_c210_0000),
            .init(start: 0x7f00_0030_0000, end: 0x7f00_0040_0000),
        ])
    }

    /// The kernel takes back this test process's file pages, and the process keeps running the
    /// code it released (this test goes on after the call).
    @Test func releasingFilePagesShrinksTheResidentSet() throws {
        let before = try #require(Self.residentFileKiB())
        let advised = try #require(ResidentPages.releaseFilePages(), "this kernel supports MADV_PAGEOUT (5.4 and later)")
        let after = try #require(Self.residentFileKiB())
        #expect(advised > 1 << 20)
        #expect(after < before, "RssFile \(before) KiB → \(after) KiB")
    }

    @Test func startupPagesAreReleasedOnceTheRoleIsReady() async throws {
        let ready = Atomic<Bool>(false)
        let logs = CapturedLogs()
        let logger = Logger(label: "test.pages") { _ in CapturingHandler(logs: logs) }
        let service = StartupPageRelease(
            checks: [HealthServer.Check(name: "synced") { ready.load(ordering: .relaxed) }], settle: .milliseconds(50), logger: logger)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                try await Task.sleep(for: .milliseconds(300))
                #expect(logs.records.withLock { $0.isEmpty }, "nothing is released before the role is ready")
                ready.store(true, ordering: .relaxed)
                #expect(await eventually { logs.records.withLock { !$0.isEmpty } })
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        let (message, metadata) = try #require(logs.records.withLock { $0.first })
        #expect(message == "process.startup_pages_released")
        #expect(metadata["supported"] == "true")
        #expect(Int(metadata["advised_kib"]?.description ?? "") ?? 0 > 0)
        #expect(logs.records.withLock { $0.count } == 1)
    }

    @Test func aRoleThatNeverBecomesReadyStopsCleanly() async throws {
        let logs = CapturedLogs()
        let service = StartupPageRelease(
            checks: [HealthServer.Check(name: "never") { false }], logger: Logger(label: "test.pages") { _ in CapturingHandler(logs: logs) })
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                try await Task.sleep(for: .milliseconds(200))
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(logs.records.withLock { $0.isEmpty })
    }

    static func residentFileKiB() -> Int? {
        ProcFS.read("/proc/self/status")?.split(separator: "\n")
            .first { $0.hasPrefix("RssFile:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") }
    }
}

private final class CapturedLogs: Sendable {
    let records = Mutex<[(String, Logger.Metadata)]>([])
}

private struct CapturingHandler: LogHandler {
    let logs: CapturedLogs
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        logs.records.withLock { $0.append((event.message.description, metadata.merging(event.metadata ?? [:]) { $1 })) }
    }
}
