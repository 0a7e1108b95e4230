import Foundation
import KubeTestServer
import ProcFS
import SPOServer
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

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
        let binary = "/usr/bin/security-profiles-operator"
        #expect(ranges == [
            .init(start: 0x55d0_c000_0000, end: 0x55d0_c100_0000, path: binary),
            .init(start: 0x55d0_c100_0000, end: 0x55d0_c200_0000, path: binary),
            .init(start: 0x55d0_c200_0000, end: 0x55d0_c210_0000, path: binary),
            .init(start: 0x7f00_0030_0000, end: 0x7f00_0040_0000, path: "/usr/lib/x86_64-linux-gnu/libc.so.6"),
        ])
    }

    /// The kernel takes back the pages of a mapping of this process, and its content reads
    /// back unchanged afterwards. The mapping is the test's own file: releasing the whole
    /// test process would stall every test running beside it while its code is read again.
    @Test func releasedPagesLeaveMemoryAndReadBackUnchanged() throws {
        try withMappedFile { path, base, mapped, bytes in
            let address = UInt(bitPattern: base)
            let advised = try #require(ResidentPages.release([.init(start: address, end: address + UInt(bytes.count), path: path)]),
                                       "this kernel supports MADV_PAGEOUT (5.4 and later)")
            #expect(advised == bytes.count)
            let left = Self.residentPages(base, bytes.count)
            #expect(left < bytes.count / 4096 / 4, "\(left) of \(bytes.count / 4096) pages still in memory")
            #expect(Array(mapped) == bytes, "nothing is lost: the pages read back from the file")
        }
    }

    /// The process's own file (its executable) is read page by page after the release: a page
    /// used again comes back alone, without the neighbours read-ahead would cache and map.
    @Test func theOwnFileComesBackPageByPage() throws {
        try withMappedFile { path, base, mapped, bytes in
            let address = UInt(bitPattern: base)
            try #require(ResidentPages.release([.init(start: address, end: address + UInt(bytes.count), path: path)], ownFile: path) != nil)
            #expect(Self.residentPages(base, bytes.count) <= 4, "the file's cached pages are dropped too")
            let middle = bytes.count / 2
            #expect(mapped[middle] == bytes[middle])
            let back = Self.residentPages(base, bytes.count)
            #expect(back >= 1 && back <= 4, "\(back) pages came back for one read")
            #expect(Array(mapped) == bytes, "nothing is lost: the pages read back from the file")
        }
    }

    /// Maps a 4 MiB file of known bytes whose pages are all cached and clean, and runs `body`
    /// with its path, the mapping and the bytes.
    private func withMappedFile(
        _ body: (String, UnsafeMutableRawPointer, UnsafeRawBufferPointer, [UInt8]) throws -> Void
    ) throws {
        let size = 4 << 20
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pages-\(UUID().uuidString)").path
        defer { unlink(path) }
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        let descriptor = open(path, O_RDONLY)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        try #require(fsync(descriptor) == 0, "clean pages: the kernel does not reclaim dirty ones")
        let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0)
        let base = try #require(mapping == UnsafeMutableRawPointer(bitPattern: -1) ? nil : mapping)
        defer { munmap(base, size) }
        let mapped = UnsafeRawBufferPointer(start: base, count: size)
        var sum = 0
        for offset in stride(from: 0, to: size, by: 4096) { sum &+= Int(mapped[offset]) }
        #expect(Self.residentPages(base, size) == size / 4096)
        try body(path, base, mapped, bytes)
    }

    /// Pages of `length` bytes at `base` in the page cache (`mincore`).
    static func residentPages(_ base: UnsafeMutableRawPointer, _ length: Int) -> Int {
        var vector = [UInt8](repeating: 0, count: length / 4096)
        guard mincore(base, length, &vector) == 0 else { return -1 }
        return vector.filter { $0 & 1 == 1 }.count
    }

    @Test func startupPagesAreReleasedOnceTheRoleIsReady() async throws {
        let ready = Atomic<Bool>(false)
        let logs = LogCapture()
        let logger = logs.logger
        let releases = Atomic<Int>(0)
        let service = StartupPageRelease(
            checks: [HealthServer.Check(name: "synced") { ready.load(ordering: .relaxed) }], settle: .milliseconds(50),
            release: { releases.add(1, ordering: .relaxed); return 8 << 20 }, logger: logger)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                try await Task.sleep(for: .milliseconds(300))
                #expect(logs.records.isEmpty, "nothing is released before the role is ready")
                ready.store(true, ordering: .relaxed)
                #expect(await eventually { !logs.records.isEmpty })
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        let record = try #require(logs.records.first)
        #expect(record.message == "process.startup_pages_released")
        #expect(record.metadata["supported"] == "true")
        #expect(record.metadata["advised_kib"] == "8192")
        #expect(Int(record.metadata["rss_kib_before"] ?? "") ?? 0 > 0)
        #expect(releases.load(ordering: .relaxed) == 1)
        #expect(logs.records.count == 1)
    }

    @Test func aRoleThatNeverBecomesReadyStopsCleanly() async throws {
        let logs = LogCapture()
        let service = StartupPageRelease(
            checks: [HealthServer.Check(name: "never") { false }], release: { Issue.record("released"); return nil },
            logger: logs.logger)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                try await Task.sleep(for: .milliseconds(200))
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(logs.records.isEmpty)
    }
}
