import AuditKit
import KubeTestServer
import Testing

/// Real lines: the reference's samples (from upstream's nodes) and lines this machine's kernel
/// and auditd printed for SCMP_ACT_LOG hits (../shared/reference/node-testing.md).
enum Samples {
    static let kernelSeccomp = #"audit: type=1326 audit(1611996299.149:466250): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=615549 comm="sh" exe="/bin/busybox" sig=0 arch=c000003e syscall=1 compat=0 ip=0x7f61a81c5923 code=0x7ffc0000"#
    static let auditdSeccomp = #"type=SECCOMP msg=audit(1613596317.899:6461): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=system_u:system_r:spc_t:s0:c284,c594 pid=2039886 comm="ls" exe="/bin/ls" sig=0 arch=c000003e syscall=3 compat=0 ip=0x7f62dce3d4c7 code=0x7ffc0000"#
    static let kmsgSeccomp = #"5,334,1756592024,-;audit: type=1326 audit(1795347497.739:2): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=14037 comm="mkdir" exe="/usr/bin/mkdir" sig=0 arch=c000003e syscall=83 compat=0 ip=0x7f24a46a6f37 code=0x7ffc0000"#
    /// auditd's ENRICHED format: its interpretations follow a 0x1d separator.
    static let auditdEnrichedSeccomp = "type=SECCOMP msg=audit(1795347539.283:104): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=16583 comm=\"mkdir\" exe=\"/usr/bin/mkdir\" sig=0 arch=c000003e syscall=83 compat=0 ip=0x7f3201f1df37 code=0x7ffc0000\u{1d}AUID=\"unset\" UID=\"root\" GID=\"root\" ARCH=x86_64 SYSCALL=unknown-syscall(-1)"
    static let syslogSeccomp = #"Nov 23 10:00:01 node-1 kernel: [ 8812.123456] audit: type=1326 audit(1795432608.875:14659): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=13522 comm="sh" exe="/usr/bin/dash" sig=0 arch=c000003e syscall=80 compat=0 ip=0x7f1d2c0e2a37 code=0x7ffc0000"#
    static let auditdAVC = #"type=AVC msg=audit(1613173578.156:2945): avc:  denied  { read } for  pid=75593 comm="security-profil" name="token" dev="tmpfs" ino=612459 scontext=system_u:system_r:container_t:s0:c4,c808 tcontext=system_u:object_r:var_lib_t:s0 tclass=lnk_file permissive=0"#
    static let kernelAVC = #"audit: type=1400 audit(1613173578.156:2946): avc:  denied  { read write open } for  pid=75594 comm="nginx" path="/var/log/x" dev="vda1" ino=1 scontext=system_u:system_r:container_t:s0:c1,c2 tcontext=system_u:object_r:var_log_t:s0 tclass=file permissive=1"#
    static let kernelAppArmor = #"audit: type=1400 audit(1668191154.949:64): apparmor="DENIED" operation="exec" profile="profile-name" name="/usr/local/bin/sample-app" pid=4166 comm="tini""#
    static let appArmorWithExtra = #"type=AVC msg=audit(1668191155.001:65): apparmor="DENIED" operation="open" profile="nginx" name="/etc/shadow" pid=4167 comm="nginx" requested_mask="r" denied_mask="r" fsuid=0 ouid=0"#
}

@Suite struct AuditLineParserTests {
    @Test func seccompRecordsInEveryFormat() throws {
        let kernel = try #require(AuditLineParser.parse(Samples.kernelSeccomp))
        #expect(kernel == AuditEvent(timestamp: "1611996299.149:466250", pid: 615549, executable: "/bin/busybox", details: .seccomp(syscall: 1, arch: 0xc000003e)))
        let auditd = try #require(AuditLineParser.parse(Samples.auditdSeccomp))
        #expect(auditd == AuditEvent(timestamp: "1613596317.899:6461", pid: 2039886, executable: "/bin/ls", details: .seccomp(syscall: 3, arch: 0xc000003e)))
        let kmsg = try #require(AuditLineParser.parse(Samples.kmsgSeccomp))
        #expect(kmsg == AuditEvent(timestamp: "1795347497.739:2", pid: 14037, executable: "/usr/bin/mkdir", details: .seccomp(syscall: 83, arch: 0xc000003e)))
        let enriched = try #require(AuditLineParser.parse(Samples.auditdEnrichedSeccomp))
        #expect(enriched.details == .seccomp(syscall: 83, arch: 0xc000003e))
        #expect(enriched.executable == "/usr/bin/mkdir")
        let syslog = try #require(AuditLineParser.parse(Samples.syslogSeccomp))
        #expect(syslog == AuditEvent(timestamp: "1795432608.875:14659", pid: 13522, executable: "/usr/bin/dash", details: .seccomp(syscall: 80, arch: 0xc000003e)))
        #expect(syslog.typeName == "seccomp")
        // A container runtime's init after it changed root: only comm names it.
        let runtime = try #require(AuditLineParser.parse(#"audit: type=1326 audit(1795347497.741:3): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=14040 comm="runc:[2:INIT]" exe="/" sig=0 arch=c000003e syscall=126 compat=0 ip=0x4a2f4e code=0x7ffc0000"#))
        #expect(runtime.executable == "/" && runtime.command == "runc:[2:INIT]")
    }

    @Test func selinuxAVCs() throws {
        let auditd = try #require(AuditLineParser.parse(Samples.auditdAVC))
        #expect(auditd == AuditEvent(
            timestamp: "1613173578.156:2945", pid: 75593, executable: "security-profil",
            details: .selinux(
                permissions: ["read"], scontext: "system_u:system_r:container_t:s0:c4,c808",
                tcontext: "system_u:object_r:var_lib_t:s0", tclass: "lnk_file")))
        let kernel = try #require(AuditLineParser.parse(Samples.kernelAVC))
        #expect(kernel.details == .selinux(
            permissions: ["read", "write", "open"], scontext: "system_u:system_r:container_t:s0:c1,c2",
            tcontext: "system_u:object_r:var_log_t:s0", tclass: "file"))
        #expect(kernel.typeName == "selinux")
    }

    @Test func appArmorDecisions() throws {
        let kernel = try #require(AuditLineParser.parse(Samples.kernelAppArmor))
        #expect(kernel == AuditEvent(
            timestamp: "1668191154.949:64", pid: 4166, executable: "tini",
            details: .apparmor(verdict: "DENIED", operation: "exec", profile: "profile-name", name: "/usr/local/bin/sample-app", extra: nil)))
        let extra = try #require(AuditLineParser.parse(Samples.appArmorWithExtra))
        #expect(extra.details == .apparmor(
            verdict: "DENIED", operation: "open", profile: "nginx", name: "/etc/shadow",
            extra: "requested_mask='r' denied_mask='r' fsuid=0 ouid=0"))
        #expect(extra.typeName == "apparmor")
    }

    @Test func hexEncodedValuesAreDecoded() throws {
        // The kernel hex-encodes strings with spaces or quotes: comm="my app" -> comm=6D7920617070.
        let line = #"audit: type=1326 audit(1.5:7): pid=9 comm=6D7920617070 exe=2F6F70742F6D7920617070 sig=0 arch=c000003e syscall=0"#
        let event = try #require(AuditLineParser.parse(line))
        #expect(event.executable == "/opt/my app")
    }

    @Test(arguments: [
        // Not audit records of a kind the enricher reports.
        #"audit: type=1016 audit(1611996299.149:1): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='op=set'"#,
        "type=1326 syscall=1",
        #"audit: type=1327 audit(1611996299.149:466250): proctitle=6C73"#,
        #"type=SYSCALL msg=audit(1613596317.899:6461): arch=c000003e syscall=3 success=yes pid=1 exe="/bin/ls""#,
        // A bare 1326 without the kernel's "audit:" prefix, as upstream also ignores it.
        #"type=1326 audit(1.2:3): pid=1 exe="/bin/ls" syscall=3"#,
        // Incomplete: no pid, no syscall, no timestamp, a bad timestamp, an AVC without contexts.
        #"type=SECCOMP msg=audit(1613596317.899:6461): comm="ls" exe="/bin/ls" syscall=3"#,
        #"type=SECCOMP msg=audit(1613596317.899:6461): pid=5 comm="ls" exe="/bin/ls""#,
        #"type=SECCOMP msg=audit: pid=5 exe="/bin/ls" syscall=3"#,
        #"type=SECCOMP msg=audit(16135x96317.899:6461): pid=5 exe="/bin/ls" syscall=3"#,
        #"type=AVC msg=audit(1613173578.156:2945): avc:  denied  { read } for  pid=75593 comm="x""#,
        // Numbers out of range.
        #"type=SECCOMP msg=audit(1.2:3): pid=99999999999 exe="/bin/ls" syscall=3"#,
        #"type=SECCOMP msg=audit(1.2:3): pid=-4 exe="/bin/ls" syscall=3"#,
        "",
        "audit(",
        "type=SECCOMP audit()",
    ])
    func linesThatAreNotReportedRecords(_ line: String) {
        #expect(AuditLineParser.parse(line) == nil)
    }

    @Test func truncatedRecordsKeepTheirCompleteFields() {
        // Every prefix of a real line either is not a record or carries the line's values for
        // every field complete in it (only the last, cut-off number can differ).
        let full = Samples.kmsgSeccomp
        for length in 0...full.utf8.count {
            let prefix = String(decoding: full.utf8.prefix(length), as: UTF8.self)
            guard let event = AuditLineParser.parse(prefix) else { continue }
            #expect(event.timestamp == "1795347497.739:2")
            #expect(event.pid == 14037)
            #expect(event.executable == "/usr/bin/mkdir")
            if case .seccomp(let syscall, _) = event.details {
                #expect([8, 83].contains(syscall), "prefix of length \(length)")
            }
        }
    }
}

@Suite struct ParserFuzzTests {
    static let seeds = [
        Samples.kernelSeccomp, Samples.auditdSeccomp, Samples.kmsgSeccomp, Samples.auditdEnrichedSeccomp, Samples.syslogSeccomp,
        Samples.auditdAVC, Samples.kernelAVC, Samples.kernelAppArmor, Samples.appArmorWithExtra,
    ]

    @Test func randomBytesNeverCrashTheParser() {
        var random = SplitMix(seed: 1)
        for _ in 0..<20_000 {
            let length = Int.random(in: 0..<300, using: &random)
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            let event = bytes.withUnsafeBytes { AuditLineParser.parse($0) }
            if let event { #expect(event.pid >= 0) }
        }
    }

    @Test func mutatedRealLinesNeverCrashTheParser() {
        var random = SplitMix(seed: 2)
        let alphabet = Array(#" ="{}():;.-0123456789abcdefABCDEF\x1dtypeaudit"#.utf8)
        var parsed = 0
        for iteration in 0..<60_000 {
            var bytes = Array(Self.seeds[iteration % Self.seeds.count].utf8)
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                guard !bytes.isEmpty else { break }
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[at] = alphabet.randomElement(using: &random)!
                case 1: bytes.remove(at: at)
                case 2: bytes.insert(alphabet.randomElement(using: &random)!, at: at)
                default: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...40, using: &random)))
                }
            }
            if let event = bytes.withUnsafeBytes({ AuditLineParser.parse($0) }) {
                parsed += 1
                #expect(event.pid >= 0)
                #expect(event.timestamp.utf8.count <= 48)
            }
        }
        // Most single mutations leave a parseable record: the parser is not simply rejecting all.
        #expect(parsed > 10_000)
    }

    @Test func hugeLinesKeepTheirRecord() {
        // 1 MiB of `a=` pairs and an unclosed brace after the record's fields.
        var line = Samples.kernelSeccomp
        line += String(repeating: " a=\"b\" {", count: 130_000)
        #expect(AuditLineParser.parse(line)?.details == .seccomp(syscall: 1, arch: 0xc000003e))
    }
}
