#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What the kernel prints when audit records did not reach its log, recognised in a line of
/// `/dev/kmsg` or syslog (where the kernel's messages carry a `kernel:` prefix).
///
/// Without auditd the kernel prints each audit record through `printk_ratelimit()`: at most
/// `kernel.printk_ratelimit_burst` records per `kernel.printk_ratelimit` seconds, and the next
/// message after such a window says how many it kept back. Records the audit subsystem itself
/// drops (its backlog or rate limit) raise its running `audit_lost` total.
public enum AuditLossNotice: Hashable, Sendable {
    /// `kauditd_printk_skb: N callbacks suppressed`: the printk rate limit kept N records out.
    case printkSuppressed(Int)
    /// `audit: audit_lost=N audit_rate_limit=R audit_backlog_limit=B`: the kernel's total of
    /// records lost since boot.
    case auditLost(total: Int)
    /// `audit: rate limit exceeded` or `audit: backlog limit exceeded` (the cause of the
    /// `audit_lost` line that comes with it).
    case limitExceeded(String)

    /// The notice in `line`, or nil.
    public static func parse(_ line: String) -> AuditLossNotice? {
        var line = line
        return line.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
    }

    /// The notice in the UTF-8 bytes of one line, or nil. Cheap for other lines: two searches
    /// for fixed markers, no allocation.
    public static func parse(_ line: UnsafeRawBufferPointer) -> AuditLossNotice? {
        guard let base = line.baseAddress, !line.isEmpty else { return nil }
        if let marker = find(" callbacks suppressed", in: line) {
            let prefix: StaticString = "kauditd_printk_skb: "
            var start = marker
            while start > 0, isDigit(line[start - 1]) { start -= 1 }
            guard start < marker, start >= prefix.utf8CodeUnitCount,
                  memcmp(base + start - prefix.utf8CodeUnitCount, prefix.utf8Start, prefix.utf8CodeUnitCount) == 0
            else { return nil }
            return number(line, start..<marker).map { .printkSuppressed($0) }
        }
        guard let audit = find("audit: ", in: line) else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: line[(audit + 7)...])
        let lost: StaticString = "audit_lost="
        if hasPrefix(rest, lost) {
            var end = lost.utf8CodeUnitCount
            while end < rest.count, isDigit(rest[end]) { end += 1 }
            return number(rest, lost.utf8CodeUnitCount..<end).map { .auditLost(total: $0) }
        }
        if hasPrefix(rest, "rate limit exceeded") { return .limitExceeded("rate limit exceeded") }
        if hasPrefix(rest, "backlog limit exceeded") { return .limitExceeded("backlog limit exceeded") }
        return nil
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private static func number(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 18 else { return nil }
        return range.reduce(0) { $0 * 10 + Int(bytes[$1] - UInt8(ascii: "0")) }
    }

    static func hasPrefix(_ bytes: UnsafeRawBufferPointer, _ prefix: StaticString) -> Bool {
        bytes.count >= prefix.utf8CodeUnitCount && memcmp(bytes.baseAddress!, prefix.utf8Start, prefix.utf8CodeUnitCount) == 0
    }

    private static func find(_ needle: StaticString, in bytes: UnsafeRawBufferPointer) -> Int? {
        let count = needle.utf8CodeUnitCount
        guard let base = bytes.baseAddress, bytes.count >= count else { return nil }
        let first = needle.utf8Start.pointee
        var index = 0
        while index <= bytes.count - count {
            if bytes[index] == first, memcmp(base + index, needle.utf8Start, count) == 0 { return index }
            index += 1
        }
        return nil
    }
}

/// Turns loss notices into counts of records lost, without counting one loss twice: the
/// printk suppressions as the kernel reports them, and `audit_lost` as the growth of the total
/// (the first total seen means at least one record was lost, as the kernel only prints it then).
public struct AuditLossAccount: Sendable {
    private var lastAuditLostTotal: Int?
    /// Records lost so far.
    public private(set) var total = 0

    public init() {}

    /// The records newly known lost through `notice`.
    @discardableResult
    public mutating func account(_ notice: AuditLossNotice) -> Int {
        let lost: Int
        switch notice {
        case .printkSuppressed(let count):
            lost = max(0, count)
        case .auditLost(let value):
            lost = lastAuditLostTotal.map { max(0, value - $0) } ?? 1
            lastAuditLostTotal = max(value, lastAuditLostTotal ?? 0)
        case .limitExceeded:
            lost = 0
        }
        total += lost
        return lost
    }

    /// Records the source itself lost before the consumer read them (e.g. `/dev/kmsg` records
    /// overwritten in the kernel's ring buffer).
    public mutating func accountOverrun(_ count: Int) {
        total += max(0, count)
    }
}

/// The audit record's serial number: the part after the colon in `audit(<epoch>.<ms>:<serial>)`,
/// in any audit line (not only the kinds the enricher parses). Every record gets the next
/// serial, so a gap between the serials of the records read means records never printed.
public enum AuditSerial {
    public static func parse(_ line: UnsafeRawBufferPointer) -> UInt64? {
        let bytes = line.bindMemory(to: UInt8.self)
        let open = Array("audit(".utf8)
        guard bytes.count > open.count else { return nil }
        var index = 0
        while index + open.count <= bytes.count {
            if bytes[index] == open[0], bytes[index..<(index + open.count)].elementsEqual(open) { break }
            index += 1
        }
        guard index + open.count <= bytes.count else { return nil }
        var cursor = index + open.count
        while cursor < bytes.count, bytes[cursor] != UInt8(ascii: ":"), bytes[cursor] != UInt8(ascii: ")") { cursor += 1 }
        guard cursor < bytes.count, bytes[cursor] == UInt8(ascii: ":") else { return nil }
        cursor += 1
        var serial: UInt64 = 0
        var digits = 0
        while cursor < bytes.count, bytes[cursor] >= UInt8(ascii: "0"), bytes[cursor] <= UInt8(ascii: "9"), digits < 19 {
            serial = serial * 10 + UInt64(bytes[cursor] - UInt8(ascii: "0"))
            cursor += 1
            digits += 1
        }
        guard digits > 0, cursor < bytes.count, bytes[cursor] == UInt8(ascii: ")") else { return nil }
        return serial
    }

    /// How many serials between the smallest and the largest of `serials` never appeared
    /// (records of several lines share one serial; the order they were read in does not matter).
    public static func missing(in serials: Set<UInt64>) -> Int {
        guard let low = serials.min(), let high = serials.max() else { return 0 }
        return Int(high - low + 1) - serials.count
    }
}

/// The kernel's printk rate limit as `kernel.printk_ratelimit` and `_burst` set it: at most
/// `burst` rate-limited messages (audit records among them) per `interval`.
public struct PrintkRateLimit: Hashable, Sendable {
    /// Seconds per window; 0 turns the limit off.
    public var intervalSeconds: Int
    public var burst: Int

    public init(intervalSeconds: Int, burst: Int) {
        self.intervalSeconds = intervalSeconds
        self.burst = burst
    }

    /// Whether records can be dropped at all.
    public var isActive: Bool { intervalSeconds > 0 && burst > 0 }

    /// Whether the limit may have dropped a record printed between `start` and `end` (kernel
    /// log timestamps, microseconds), given the timestamps of the rate-limited lines the kernel
    /// printed. A record is dropped only in a window that already printed `burst` lines, and
    /// such a window starts at most `interval` before the drop: so fewer than `burst` lines in
    /// `[start - interval, end]` mean nothing was dropped. `slack` widens the period for clock
    /// differences.
    public func mayHaveDropped(printedAt timestamps: [Int64], start: Int64, end: Int64, slack: Int64 = 1_000_000) -> Bool {
        guard isActive else { return false }
        let from = start - Int64(intervalSeconds) * 1_000_000 - slack
        let to = end + slack
        return timestamps.lazy.filter { $0 >= from && $0 <= to }.count >= burst
    }
}

extension AuditLossNotice {
    /// Whether a kernel log message went through `printk_ratelimit()` and so used up the budget
    /// audit records share: the audit records themselves and the audit subsystem's loss lines.
    public static func isRateLimited(_ message: UnsafeRawBufferPointer) -> Bool {
        guard hasPrefix(message, "audit: ") else { return false }
        let rest = UnsafeRawBufferPointer(rebasing: message[7...])
        return hasPrefix(rest, "type=") || hasPrefix(rest, "audit_lost=") || hasPrefix(rest, "rate limit") || hasPrefix(rest, "backlog limit")
    }
}
