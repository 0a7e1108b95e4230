import AuditSources
import Foundation
import KubeTestServer
import SPOEnricher
import Synchronization
import Testing

/// Runs a source in the background and collects what it delivers.
final class SourceRun: Sendable {
    private final class Collected: Sendable {
        let lines = Mutex<[String]>([])
        let idleCalls = Atomic<Int>(0)
    }

    private let collected = Collected()
    private let task: Task<Void, any Error>

    init(_ source: any AuditSource) {
        let collected = self.collected
        task = Task {
            try await source.follow { batch in
                if batch.isEmpty { collected.idleCalls.add(1, ordering: .relaxed) }
                var received: [String] = []
                batch.forEachLine { received.append(String(decoding: $0, as: UTF8.self)) }
                collected.lines.withLock { $0 += received }
            }
        }
    }

    var received: [String] { collected.lines.withLock { $0 } }

    /// Waits until the source has gone idle `count` more times (it has caught up).
    func waitIdle(_ count: Int = 2) async {
        let target = collected.idleCalls.load(ordering: .relaxed) + count
        _ = await eventually { collected.idleCalls.load(ordering: .relaxed) >= target }
    }

    func stop() {
        task.cancel()
    }

    deinit { task.cancel() }
}

/// A class suite: each test gets its own directory, removed when the test's instance goes.
@Suite final class FileSourceTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("enricher-\(UUID().uuidString)")

    init() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func append(_ text: String, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    @Test func followsFromTheEndAcrossPartialLinesRotationAndTruncation() async throws {
        let path = directory.appendingPathComponent("audit.log").path
        try "old-1\nold-2\n".write(toFile: path, atomically: false, encoding: .utf8)
        let run = SourceRun(FileAuditSource(path: path, pollInterval: .milliseconds(10)))
        defer { run.stop() }
        await run.waitIdle()

        try append("new-1\npar", to: path)
        #expect(await eventually { run.received == ["new-1"] }, "what was there at start is not re-read")
        try append("tial\n", to: path)
        #expect(await eventually { run.received == ["new-1", "partial"] })

        // Rotation: the writer still has the old file open and writes once more, then the new file starts.
        let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try writer.seekToEnd()
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try writer.write(contentsOf: Data("late\n".utf8))
        try writer.close()
        try "fresh-1\nfresh-2\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(await eventually { run.received == ["new-1", "partial", "late", "fresh-1", "fresh-2"] }, "\(run.received)")

        // Truncation in place (copytruncate): read again from the start.
        let truncate = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try truncate.truncate(atOffset: 0)
        try truncate.close()
        await run.waitIdle()
        try append("t\n", to: path)
        #expect(await eventually { run.received.last == "t" }, "\(run.received)")
        #expect(run.received.count == 6)
    }

    @Test func waitsForAnAbsentFileAndReadsItFromTheStart() async throws {
        let path = directory.appendingPathComponent("syslog").path
        let run = SourceRun(FileAuditSource(path: path, pollInterval: .milliseconds(10)))
        defer { run.stop() }
        await run.waitIdle()
        try "first\nsecond\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(await eventually { run.received == ["first", "second"] })
    }

    @Test func overlongLinesAreDroppedWholeAndTheNextLineIsRead() async throws {
        let path = directory.appendingPathComponent("audit.log").path
        try "".write(toFile: path, atomically: false, encoding: .utf8)
        let run = SourceRun(FileAuditSource(path: path, pollInterval: .milliseconds(10), maxLineLength: 64))
        defer { run.stop() }
        await run.waitIdle()
        // One long line in several writes (never a newline for 1 MiB), then a normal one.
        for _ in 0..<16 { try append(String(repeating: "x", count: 65_536), to: path) }
        try append("\nok\n", to: path)
        #expect(await eventually { run.received == ["ok"] }, "\(run.received.map(\.count))")
    }

    @Test func fromStartReadsWhatIsAlreadyThere() async throws {
        let path = directory.appendingPathComponent("audit.log").path
        try "a\nb\n".write(toFile: path, atomically: false, encoding: .utf8)
        let run = SourceRun(FileAuditSource(path: path, startAtEnd: false, pollInterval: .milliseconds(10)))
        defer { run.stop() }
        #expect(await eventually { run.received == ["a", "b"] })
    }

    @Test func aMissingDeviceIsAClearError() async throws {
        let source = KmsgAuditSource(path: directory.appendingPathComponent("no-kmsg").path)
        await #expect(throws: AuditSourceError.self) {
            try await source.follow { _ in }
        }
        do {
            try await source.follow { _ in }
        } catch {
            #expect("\(error)".contains("no-kmsg") && "\(error)".contains("No such file"))
        }
    }
}
