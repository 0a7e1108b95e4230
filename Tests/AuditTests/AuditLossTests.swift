import AuditKit
import AuditSources
import Testing

/// Lines this machine's kernel printed when its printk rate limit dropped audit records
/// (`SCMP_ACT_LOG` on getppid, 50 calls at the default 10 per 5 s), as `/dev/kmsg` returns them.
enum LossSamples {
    static let records = [
        #"5,347,366114661,-;audit: type=1326 audit(1796229577.054:10): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=6736 comm="flood" exe="/tmp/rl/flood" sig=0 arch=c000003e syscall=110 compat=0 ip=0x7f974c6f7829 code=0x7ffc0000"#,
        #"5,348,366114665,-;audit: type=1326 audit(1796229577.054:11): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=6736 comm="flood" exe="/tmp/rl/flood" sig=0 arch=c000003e syscall=110 compat=0 ip=0x7f974c6f7829 code=0x7ffc0000"#,
        "4,349,371630651,-;kauditd_printk_skb: 40 callbacks suppressed",
        #"5,350,371630663,-;audit: type=1326 audit(1796229582.570:52): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=6822 comm="flood" exe="/tmp/rl/flood" sig=0 arch=c000003e syscall=110 compat=0 ip=0x7ff90edb4829 code=0x7ffc0000"#,
    ]
}

@Suite struct AuditLossTests {
    func withRecord<T>(_ text: String, _ body: (KernelLogRecord?) -> T) -> T {
        var text = text
        return text.withUTF8 { body(KernelLogRecord(UnsafeRawBufferPointer($0))) }
    }

    @Test func kernelLogRecordsGiveTheirNumberTimeAndMessage() {
        let messages = LossSamples.records.map { line in
            withRecord(line) { record -> String? in
                guard let record else { return nil }
                return "\(record.sequence ?? 0) \(record.microseconds ?? 0) \(String(decoding: record.message, as: UTF8.self).prefix(24))"
            }
        }
        #expect(messages == [
            "347 366114661 audit: type=1326 audit(1", "348 366114665 audit: type=1326 audit(1",
            "349 371630651 kauditd_printk_skb: 40 c", "350 371630663 audit: type=1326 audit(1",
        ])
        // Continuation lines (device properties) are not part of the message; garbage is no record.
        #expect(withRecord("6,190,200715,-;acpi PNP0A08:00: _OSC\n SUBSYSTEM=acpi\n") { $0.map { String(decoding: $0.message, as: UTF8.self) } } == "acpi PNP0A08:00: _OSC")
        #expect(withRecord("no separator here") { $0 == nil })
        #expect(withRecord("x,y,z,-;text") { $0?.sequence == nil && $0?.microseconds == nil })
    }

    @Test func sequenceGapsCountOverwrittenRecords() {
        var gaps = SequenceGapCounter()
        for sequence: UInt64 in [10, 11, 12, 40, 41, 41, 60] { gaps.saw(sequence) }
        #expect(gaps.skipped == 27 + 18)
    }

    @Test func lossNoticesInKmsgAndSyslogForm() {
        #expect(AuditLossNotice.parse("kauditd_printk_skb: 40 callbacks suppressed") == .printkSuppressed(40))
        #expect(AuditLossNotice.parse("Nov 23 10:00:06 node-1 kernel: [ 8817.200001] kauditd_printk_skb: 138 callbacks suppressed") == .printkSuppressed(138))
        #expect(AuditLossNotice.parse("audit: audit_lost=17 audit_rate_limit=0 audit_backlog_limit=64") == .auditLost(total: 17))
        #expect(AuditLossNotice.parse("Nov 23 10:00:06 node-1 kernel: audit: audit_lost=3 audit_rate_limit=100 audit_backlog_limit=8192") == .auditLost(total: 3))
        #expect(AuditLossNotice.parse("audit: rate limit exceeded") == .limitExceeded("rate limit exceeded"))
        #expect(AuditLossNotice.parse("audit: backlog limit exceeded") == .limitExceeded("backlog limit exceeded"))
        // Other subsystems' suppressions, records, and near misses are not audit losses.
        for line in [
            "usb 1-1: 2 callbacks suppressed", "net_ratelimit: 5 callbacks suppressed", "kauditd_printk_skb:  callbacks suppressed",
            LossSamples.records[0], "audit: type=2000 audit(1796089502.164:1): state=initialized audit_enabled=0 res=1",
            "audit: audit_lost=", "", "callbacks suppressed",
        ] {
            #expect(AuditLossNotice.parse(line) == nil, "\(line)")
        }
    }

    @Test func lossesAreCountedOnce() {
        var account = AuditLossAccount()
        #expect(account.account(.printkSuppressed(40)) == 40)
        #expect(account.account(.limitExceeded("backlog limit exceeded")) == 0)
        #expect(account.account(.auditLost(total: 900)) == 1, "a first total only says that at least one was lost")
        #expect(account.account(.auditLost(total: 905)) == 5)
        #expect(account.account(.auditLost(total: 905)) == 0)
        #expect(account.account(.auditLost(total: 2)) == 0, "a smaller total (reordered lines) counts nothing")
        #expect(account.account(.auditLost(total: 906)) == 1)
        account.accountOverrun(3)
        #expect(account.total == 40 + 1 + 5 + 1 + 3)
    }

    @Test func serialGapsCountRecordsNeverPrinted() {
        func serial(_ line: String) -> UInt64? {
            var line = line
            return line.withUTF8 { AuditSerial.parse(UnsafeRawBufferPointer($0)) }
        }
        #expect(serial(String(LossSamples.records[3].split(separator: ";", maxSplits: 1)[1])) == 52)
        #expect(serial("type=SECCOMP msg=audit(1613596317.899:6461): pid=1") == 6461)
        #expect(serial("audit(1.2)") == nil && serial("audit(1.2:x)") == nil && serial("no record") == nil)
        #expect(AuditSerial.missing(in: [10, 11, 52]) == 40)
        #expect(AuditSerial.missing(in: [5, 3, 4]) == 0, "read out of order, none missing")
        #expect(AuditSerial.missing(in: []) == 0 && AuditSerial.missing(in: [7]) == 0)
    }

    @Test func theRateLimitTellsWhenRecordsMayHaveBeenDropped() {
        let limit = PrintkRateLimit(intervalSeconds: 5, burst: 10)
        let second: Int64 = 1_000_000
        let burst = (0..<10).map { 100 * second + Int64($0) }
        // Ten printed just before the run: the window was full when it started.
        #expect(limit.mayHaveDropped(printedAt: burst, start: 102 * second, end: 103 * second))
        // Nine printed: the budget was never used up.
        #expect(!limit.mayHaveDropped(printedAt: Array(burst.dropLast()), start: 102 * second, end: 103 * second))
        // Long before the run (more than the interval plus slack).
        #expect(!limit.mayHaveDropped(printedAt: burst, start: 110 * second, end: 111 * second))
        #expect(!PrintkRateLimit(intervalSeconds: 0, burst: 10).mayHaveDropped(printedAt: burst, start: 100 * second, end: 101 * second))
        #expect(!PrintkRateLimit(intervalSeconds: 0, burst: 10).isActive && limit.isActive)
    }

    @Test func onlyLinesThatGoThroughPrintkRateLimitCount() {
        func counts(_ line: String) -> Bool {
            var line = line
            return line.withUTF8 { AuditLossNotice.isRateLimited(UnsafeRawBufferPointer($0)) }
        }
        #expect(counts("audit: type=1326 audit(1.2:3): pid=1"))
        #expect(counts("audit: audit_lost=3 audit_rate_limit=0 audit_backlog_limit=64"))
        #expect(counts("audit: backlog limit exceeded"))
        #expect(!counts("kauditd_printk_skb: 40 callbacks suppressed"))
        #expect(!counts("EXT4-fs (vda): mounted filesystem"))
    }
}
