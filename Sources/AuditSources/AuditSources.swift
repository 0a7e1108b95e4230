#if canImport(Glibc)
import Glibc
#endif

/// Complete lines read from a source, as one byte buffer and the ranges of its lines
/// (without newlines): the enricher parses them without a String per line.
public struct LineBatch: Sendable {
    public private(set) var bytes: [UInt8] = []
    public private(set) var lines: [Range<Int>] = []
    /// Records the source lost before these lines, when it can tell (`/dev/kmsg` records the
    /// kernel overwrote before they were read).
    public var lostRecords = 0

    public init() {}

    public var isEmpty: Bool { lines.isEmpty }
    public var count: Int { lines.count }

    public mutating func append<Bytes: Collection<UInt8>>(line: Bytes) {
        let start = bytes.count
        bytes.append(contentsOf: line)
        lines.append(start..<bytes.count)
    }

    public mutating func append(line: String) {
        append(line: line.utf8)
    }

    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        lines.removeAll(keepingCapacity: true)
        lostRecords = 0
    }

    /// Calls `body` with the bytes of each line.
    public func forEachLine(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try bytes.withUnsafeBytes { buffer in
            for range in lines { try body(UnsafeRawBufferPointer(rebasing: buffer[range])) }
        }
    }
}

/// Where audit lines come from. `follow` reads until the task is cancelled and calls
/// `handle` with each batch of new lines, and with an empty batch at least every poll
/// interval while the source is idle, so that the consumer can do its timed work.
/// The source waits for `handle`, so a slow consumer slows reading instead of growing memory.
public protocol AuditSource: Sendable, CustomStringConvertible {
    /// What kind of source this is, for metric labels: `audit`, `syslog` or `kmsg`.
    var kind: String { get }
    func follow(_ handle: (LineBatch) async -> Void) async throws
}

/// Why a source stopped.
public struct AuditSourceError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var operation: String
    public var errno: Int32

    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
}

/// Splits a byte stream into lines, bounding a line's length: the bytes of a line longer
/// than `maxLineLength` are dropped up to its newline, so a hostile writer cannot make the
/// reader buffer without limit.
struct LineSplitter {
    let maxLineLength: Int
    private var pending: [UInt8] = []
    private var discarding = false
    private(set) var oversizedLines = 0

    init(maxLineLength: Int) {
        self.maxLineLength = maxLineLength
    }

    mutating func feed(_ chunk: UnsafeRawBufferPointer, into batch: inout LineBatch) {
        var start = 0
        let newline = UInt8(ascii: "\n")
        while start < chunk.count {
            guard let end = chunk[start...].firstIndex(of: newline) else {
                if !discarding {
                    pending.append(contentsOf: chunk[start...])
                    if pending.count > maxLineLength { startDiscarding() }
                }
                return
            }
            if discarding {
                discarding = false
            } else if pending.isEmpty {
                if end - start <= maxLineLength { batch.append(line: chunk[start..<end]) } else { oversizedLines += 1 }
            } else {
                pending.append(contentsOf: chunk[start..<end])
                if pending.count <= maxLineLength { batch.append(line: pending) } else { oversizedLines += 1 }
                pending.removeAll(keepingCapacity: true)
            }
            start = end + 1
        }
    }

    /// Emits a final line without a newline (the end of a rotated file).
    mutating func flush(into batch: inout LineBatch) {
        if !pending.isEmpty, !discarding { batch.append(line: pending) }
        reset()
    }

    mutating func reset() {
        pending.removeAll(keepingCapacity: true)
        discarding = false
    }

    private mutating func startDiscarding() {
        pending.removeAll(keepingCapacity: true)
        discarding = true
        oversizedLines += 1
    }
}

/// Follows a log file as `tail -F` does: from its end when it exists at start (or from the
/// beginning when asked), re-opened from its beginning after rotation (a new inode at the
/// path) and re-read from the beginning after truncation; waits while the file is absent.
public struct FileAuditSource: AuditSource {
    public var path: String
    public var kind: String
    public var startAtEnd: Bool
    public var pollInterval: Duration
    public var maxLineLength: Int

    /// `kind`: `audit` for auditd's log, `syslog` for a syslog file.
    public init(path: String, kind: String = "audit", startAtEnd: Bool = true, pollInterval: Duration = .milliseconds(200), maxLineLength: Int = 16 * 1024) {
        self.path = path
        self.kind = kind
        self.startAtEnd = startAtEnd
        self.pollInterval = pollInterval
        self.maxLineLength = maxLineLength
    }

    public var description: String { path }

    private struct OpenFile {
        var descriptor: Int32
        var device: UInt64
        var inode: UInt64
    }

    public func follow(_ handle: (LineBatch) async -> Void) async throws {
        var splitter = LineSplitter(maxLineLength: maxLineLength)
        var batch = LineBatch()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var file = try open(seekToEnd: startAtEnd)
        defer { if let file { close(file.descriptor) } }

        while !Task.isCancelled {
            guard let current = file else {
                await handle(LineBatch())
                try? await Task.sleep(for: pollInterval)
                file = try open(seekToEnd: false)
                continue
            }
            let count = try read(current.descriptor, into: &buffer)
            if count > 0 {
                buffer.withUnsafeBytes { splitter.feed(UnsafeRawBufferPointer(rebasing: $0[0..<count]), into: &batch) }
                if !batch.isEmpty {
                    await handle(batch)
                    batch.removeAll()
                }
                continue
            }
            // At the end: rotated away, truncated, or just idle.
            var status = stat()
            let atPath = stat(path, &status) == 0 ? status : nil
            if atPath == nil || UInt64(atPath!.st_ino) != current.inode || UInt64(atPath!.st_dev) != current.device {
                // Lines written to the old file between our last read and the rotation.
                while case let count = try read(current.descriptor, into: &buffer), count > 0 {
                    buffer.withUnsafeBytes { splitter.feed(UnsafeRawBufferPointer(rebasing: $0[0..<count]), into: &batch) }
                }
                splitter.flush(into: &batch)
                close(current.descriptor)
                file = nil
                if !batch.isEmpty {
                    await handle(batch)
                    batch.removeAll()
                }
                file = try open(seekToEnd: false)
                continue
            }
            var own = stat()
            if fstat(current.descriptor, &own) == 0, own.st_size < lseek(current.descriptor, 0, SEEK_CUR) {
                lseek(current.descriptor, 0, SEEK_SET)
                splitter.reset()
                continue
            }
            await handle(LineBatch())
            try? await Task.sleep(for: pollInterval)
        }
    }

    private func open(seekToEnd: Bool) throws -> OpenFile? {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw AuditSourceError(path: path, operation: "open", errno: errno)
        }
        var status = stat()
        fstat(descriptor, &status)
        if seekToEnd { lseek(descriptor, 0, SEEK_END) }
        return OpenFile(descriptor: descriptor, device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    private func read(_ descriptor: Int32, into buffer: inout [UInt8]) throws -> Int {
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count >= 0 { return count }
            if errno != EINTR { throw AuditSourceError(path: path, operation: "read", errno: errno) }
        }
    }
}

/// Reads the kernel's log buffer from `/dev/kmsg` directly, so nodes without auditd or syslog
/// still see audit records (the kernel prints them there while no auditd runs). Each read is one
/// record: `<prio>,<seq>,<usec>,<flags>;<message>`; the message is the line. Starts at the newest
/// record unless asked to replay the buffer. Records the kernel overwrote before they were read
/// are skipped (the kernel reports them as `EPIPE`).
public struct KmsgAuditSource: AuditSource {
    public var path: String
    public var startAtEnd: Bool
    public var pollInterval: Duration

    public init(path: String = "/dev/kmsg", startAtEnd: Bool = true, pollInterval: Duration = .milliseconds(100)) {
        self.path = path
        self.startAtEnd = startAtEnd
        self.pollInterval = pollInterval
    }

    public var description: String { path }
    public var kind: String { "kmsg" }

    public func follow(_ handle: (LineBatch) async -> Void) async throws {
        let reader = try KernelLogReader(path: path, startAtEnd: startAtEnd)
        var batch = LineBatch()
        while !Task.isCancelled {
            let more = try reader.read(into: &batch, limit: 512)
            batch.lostRecords += reader.takeOverwritten()
            if more, batch.count < 512 { continue }
            await handle(batch)
            batch.removeAll()
            if !more { try? await Task.sleep(for: pollInterval) }
        }
    }
}

/// `/dev/kmsg` read without blocking, one record per `read`: each record's sequence number,
/// timestamp and message (without the `<prio>,<seq>,<usec>,<flags>;` prefix), for the records
/// available now. Records the kernel overwrote before they were read (`EPIPE`) are skipped and
/// counted from the gap in sequence numbers. Shared by the enricher's source and `spoc run`.
public final class KernelLogReader {
    public let path: String
    private let descriptor: Int32
    private var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    private var gaps = SequenceGapCounter()
    private var reported = 0

    /// Opens the log at its newest record, or at its oldest with `startAtEnd: false`.
    public init(path: String = "/dev/kmsg", startAtEnd: Bool = true) throws(AuditSourceError) {
        self.path = path
        descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw AuditSourceError(path: path, operation: "open", errno: errno) }
        if startAtEnd { lseek(descriptor, 0, SEEK_END) }
    }

    deinit { close(descriptor) }

    /// Records lost to overwriting since the last call.
    public func takeOverwritten() -> Int {
        defer { reported = gaps.skipped }
        return gaps.skipped - reported
    }

    /// Appends available messages to `batch` until it holds `limit` lines; false when no
    /// record is available now.
    public func read(into batch: inout LineBatch, limit: Int) throws(AuditSourceError) -> Bool {
        let wanted = limit - batch.count
        guard wanted > 0 else { return true }
        return try readRecords(limit: wanted) { _, _, message in batch.append(line: message) }
    }

    /// Calls `body` with the sequence number, the timestamp (microseconds since boot) and the
    /// message of each available record, up to `limit`; false when no record is available now.
    public func readRecords(
        limit: Int, _ body: (_ sequence: UInt64, _ microseconds: Int64, _ message: UnsafeRawBufferPointer) -> Void
    ) throws(AuditSourceError) -> Bool {
        var read = 0
        while read < limit {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                read += 1
                buffer.withUnsafeBytes { bytes in
                    guard let record = KernelLogRecord(UnsafeRawBufferPointer(rebasing: bytes[0..<count])) else { return }
                    if let sequence = record.sequence { gaps.saw(sequence) }
                    body(record.sequence ?? 0, record.microseconds ?? 0, record.message)
                }
                continue
            }
            switch count < 0 ? errno : EAGAIN {
            case EINTR, EPIPE:
                // EPIPE: the kernel overwrote records before we read them; the next read
                // continues with the oldest one left (the sequence gap counts the lost ones).
                continue
            case EAGAIN:
                return false
            case let error:
                throw AuditSourceError(path: path, operation: "read", errno: error)
            }
        }
        return true
    }

}

/// One record as `/dev/kmsg` returns it: `<prio>,<seq>,<usec>,<flags>[,…];<message>`, then
/// optional `\n KEY=value` lines. The message is borrowed from the read buffer.
public struct KernelLogRecord {
    /// The record's number; consecutive records differ by one, so a jump means lost records.
    public var sequence: UInt64?
    /// When the kernel printed it, in microseconds since boot.
    public var microseconds: Int64?
    /// The text up to the first newline.
    public var message: UnsafeRawBufferPointer

    /// Nil when the bytes are not a kernel log record (no `;` after the prefix).
    public init?(_ record: UnsafeRawBufferPointer) {
        guard let separator = record.firstIndex(of: UInt8(ascii: ";")) else { return nil }
        let fields = record[..<separator].split(separator: UInt8(ascii: ","), maxSplits: 3, omittingEmptySubsequences: false)
        sequence = fields.count > 1 ? Self.decimal(fields[1]) : nil
        microseconds = fields.count > 2 ? Self.decimal(fields[2]).map { Int64($0) } : nil
        let text = record[(separator + 1)...]
        let end = text.firstIndex(of: UInt8(ascii: "\n")) ?? text.endIndex
        message = UnsafeRawBufferPointer(rebasing: text[..<end])
    }

    private static func decimal(_ bytes: UnsafeRawBufferPointer.SubSequence) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
        }
        return value
    }
}

/// Counts records skipped between sequence numbers: `/dev/kmsg` numbers every record, and a
/// reader that fell behind a flood resumes at the oldest record the ring buffer still holds.
public struct SequenceGapCounter: Sendable {
    private var last: UInt64?
    public private(set) var skipped = 0

    public init() {}

    public mutating func saw(_ sequence: UInt64) {
        if let last, sequence > last + 1 { skipped += Int(sequence - last - 1) }
        if last.map({ sequence > $0 }) ?? true { last = sequence }
    }
}
