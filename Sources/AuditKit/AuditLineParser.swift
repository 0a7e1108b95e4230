#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Recognises seccomp, SELinux and AppArmor audit records in one line of auditd's log,
/// syslog or `/dev/kmsg`, and extracts what the enricher needs (reference §6.1).
///
/// The parser reads bytes once, allocates only the strings it returns, and never fails on
/// input: a line that is not a complete record of a known kind is `nil`. Values the kernel
/// hex-encodes (an `exe` or `comm` with spaces or quotes) are decoded.
public enum AuditLineParser {
    /// The record in `line`, or nil.
    public static func parse(_ line: String) -> AuditEvent? {
        var line = line
        return line.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
    }

    /// The record in the UTF-8 bytes of one line (without its newline), or nil.
    public static func parse(_ line: UnsafeRawBufferPointer) -> AuditEvent? {
        let bytes = line.bindMemory(to: UInt8.self)
        guard let open = find(Pattern.auditOpen, in: bytes, from: 0) else { return nil }
        let stampStart = open + Pattern.auditOpen.utf8CodeUnitCount
        guard let close = firstIndex(of: Byte.closeParen, in: bytes, from: stampStart), close > stampStart,
              close - stampStart <= 48, isTimestamp(bytes, stampStart..<close)
        else { return nil }
        guard let kind = classify(header: bytes, upTo: open) else { return nil }
        var fields = Fields()
        scanFields(bytes, from: close + 1, into: &fields)
        let timestamp = string(bytes, stampStart..<close)
        guard let pid = fields.pid.flatMap({ decimal(bytes, $0) }), pid >= 0, pid <= Int64(Int32.max) else { return nil }

        switch kind {
        case .seccomp:
            guard let syscall = fields.syscall.flatMap({ decimal(bytes, $0) }), syscall >= -1, syscall <= Int64(Int32.max) else { return nil }
            let arch = fields.arch.flatMap { hexadecimal(bytes, $0) }.flatMap { UInt32(exactly: $0) }
            let executable = fields.exe.map { value(bytes, $0) } ?? ""
            // Only a process whose executable is `/` needs its comm (see AuditEvent.command).
            let command = executable == "/" ? fields.comm.map { value(bytes, $0) } ?? "" : ""
            return AuditEvent(
                timestamp: timestamp, pid: Int32(pid), executable: executable, details: .seccomp(syscall: Int32(syscall), arch: arch), command: command)
        case .avc:
            if let verdict = fields.apparmor {
                guard let operation = fields.operation else { return nil }
                var extra: String?
                if let comm = fields.comm {
                    let rest = trimmed(bytes, comm.range.upperBound..<fields.end)
                    if !rest.isEmpty { extra = String(decoding: bytes[rest].lazy.map { $0 == Byte.quote ? Byte.apostrophe : $0 }, as: UTF8.self) }
                }
                return AuditEvent(
                    timestamp: timestamp, pid: Int32(pid), executable: fields.comm.map { value(bytes, $0) } ?? "",
                    details: .apparmor(
                        verdict: value(bytes, verdict), operation: value(bytes, operation),
                        profile: fields.profile.map { value(bytes, $0) } ?? "", name: fields.name.map { value(bytes, $0) } ?? "",
                        extra: extra))
            }
            guard fields.sawAVC, !fields.permissions.isEmpty, let scontext = fields.scontext, let tcontext = fields.tcontext,
                  let tclass = fields.tclass
            else { return nil }
            return AuditEvent(
                timestamp: timestamp, pid: Int32(pid), executable: (fields.exe ?? fields.comm).map { value(bytes, $0) } ?? "",
                details: .selinux(
                    permissions: fields.permissions.map { string(bytes, $0) }, scontext: value(bytes, scontext),
                    tcontext: value(bytes, tcontext), tclass: value(bytes, tclass)))
        }
    }

    // MARK: - Classification

    private enum Kind { case seccomp, avc }

    /// The record type from the text before `audit(`: `type=SECCOMP` (auditd) or `audit: type=1326`
    /// (kernel); `type=AVC`/`type=APPARMOR*` (auditd) or `audit: type=1400` / `type=150x` (kernel).
    private static func classify(header bytes: UnsafeBufferPointer<UInt8>, upTo end: Int) -> Kind? {
        var searchFrom = 0
        while let at = find(Pattern.type, in: bytes, from: searchFrom, before: end) {
            searchFrom = at + 1
            guard at == 0 || bytes[at - 1] == Byte.space || bytes[at - 1] == Byte.semicolon else { continue }
            let start = at + Pattern.type.utf8CodeUnitCount
            var stop = start
            while stop < end, bytes[stop] != Byte.space { stop += 1 }
            let word = UnsafeBufferPointer(rebasing: bytes[start..<stop])
            let kernelForm = find(Pattern.auditColon, in: bytes, from: 0, before: at) != nil
            if equal(word, Pattern.seccompWord) || (kernelForm && equal(word, Pattern.seccompNumber)) { return .seccomp }
            if equal(word, Pattern.avcWord) || hasPrefix(word, Pattern.apparmorWord) { return .avc }
            if kernelForm, equal(word, Pattern.avcNumber) || (word.count == 4 && hasPrefix(word, Pattern.apparmorNumberPrefix)) { return .avc }
            return nil
        }
        return nil
    }

    // MARK: - Fields

    /// A value in the line: where it is and whether it was quoted.
    private struct Value {
        var range: Range<Int>
        var quoted: Bool
    }

    private struct Fields {
        var pid, exe, comm, syscall, arch, apparmor, operation, profile, name, scontext, tcontext, tclass: Value?
        var permissions: [Range<Int>] = []
        var sawAVC = false
        /// Where the scanned record ends (the line's end or auditd's enrichment separator).
        var end = 0
    }

    /// Reads the `key=value` tokens after `audit(...)`, the `avc:` marker and the `{ perms }` group.
    /// The first occurrence of a key wins. Scanning stops at auditd's `0x1d` separator, after
    /// which come auditd's own interpretations of the record.
    private static func scanFields(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, into fields: inout Fields) {
        var index = start
        let count = bytes.count
        fields.end = count
        while index < count {
            let byte = bytes[index]
            if byte == Byte.groupSeparator { fields.end = index; return }
            if byte == Byte.space || byte == Byte.colon { index += 1; continue }
            if byte == Byte.openBrace {
                index += 1
                while index < count, bytes[index] != Byte.closeBrace, bytes[index] != Byte.groupSeparator {
                    if bytes[index] == Byte.space { index += 1; continue }
                    let wordStart = index
                    while index < count, bytes[index] != Byte.space, bytes[index] != Byte.closeBrace, bytes[index] != Byte.groupSeparator { index += 1 }
                    if fields.permissions.count < 64 { fields.permissions.append(wordStart..<index) }
                }
                if index < count, bytes[index] == Byte.closeBrace { index += 1 }
                continue
            }
            let keyStart = index
            while index < count, bytes[index] != Byte.equals, bytes[index] != Byte.space, bytes[index] != Byte.groupSeparator { index += 1 }
            let key = UnsafeBufferPointer(rebasing: bytes[keyStart..<index])
            guard index < count, bytes[index] == Byte.equals else {
                if equal(key, Pattern.avcMarker) { fields.sawAVC = true }
                continue
            }
            index += 1
            let value: Value
            if index < count, bytes[index] == Byte.quote {
                let valueStart = index + 1
                var valueEnd = valueStart
                while valueEnd < count, bytes[valueEnd] != Byte.quote { valueEnd += 1 }
                value = Value(range: valueStart..<valueEnd, quoted: true)
                index = min(valueEnd + 1, count)
            } else {
                let valueStart = index
                while index < count, bytes[index] != Byte.space, bytes[index] != Byte.groupSeparator { index += 1 }
                value = Value(range: valueStart..<index, quoted: false)
            }
            assign(key, value, to: &fields)
        }
    }

    private static func assign(_ key: UnsafeBufferPointer<UInt8>, _ value: Value, to fields: inout Fields) {
        func set(_ slot: inout Value?) { if slot == nil { slot = value } }
        switch key.count {
        case 3:
            if equal(key, Key.pid) { set(&fields.pid) } else if equal(key, Key.exe) { set(&fields.exe) }
        case 4:
            if equal(key, Key.comm) { set(&fields.comm) } else if equal(key, Key.arch) { set(&fields.arch) } else if equal(key, Key.name) { set(&fields.name) }
        case 6:
            if equal(key, Key.tclass) { set(&fields.tclass) }
        case 7:
            if equal(key, Key.syscall) { set(&fields.syscall) } else if equal(key, Key.profile) { set(&fields.profile) }
        case 8:
            if equal(key, Key.apparmor) { set(&fields.apparmor) } else if equal(key, Key.scontext) { set(&fields.scontext) } else if equal(key, Key.tcontext) { set(&fields.tcontext) }
        case 9:
            if equal(key, Key.operation) { set(&fields.operation) }
        default:
            break
        }
    }

    // MARK: - Values

    /// A string value; an unquoted value that is all hex digits of even length is the kernel's
    /// encoding of a string with special characters, and is decoded.
    private static func value(_ bytes: UnsafeBufferPointer<UInt8>, _ value: Value) -> String {
        let range = value.range
        if !value.quoted, range.count >= 2, range.count % 2 == 0, bytes[range].allSatisfy(isUpperHexDigit) {
            var decoded: [UInt8] = []
            decoded.reserveCapacity(range.count / 2)
            var index = range.lowerBound
            while index < range.upperBound {
                decoded.append(hexValue(bytes[index]) << 4 | hexValue(bytes[index + 1]))
                index += 2
            }
            return String(decoding: decoded, as: UTF8.self)
        }
        return string(bytes, range)
    }

    private static func string(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    private static func decimal(_ bytes: UnsafeBufferPointer<UInt8>, _ value: Value) -> Int64? {
        var range = value.range
        var negative = false
        if range.count > 1, bytes[range.lowerBound] == Byte.minus {
            negative = true
            range = range.lowerBound + 1..<range.upperBound
        }
        guard !range.isEmpty, range.count <= 18 else { return nil }
        var result: Int64 = 0
        for index in range {
            let digit = bytes[index] &- Byte.zero
            guard digit < 10 else { return nil }
            result = result * 10 + Int64(digit)
        }
        return negative ? -result : result
    }

    private static func hexadecimal(_ bytes: UnsafeBufferPointer<UInt8>, _ value: Value) -> UInt64? {
        guard !value.range.isEmpty, value.range.count <= 16 else { return nil }
        var result: UInt64 = 0
        for index in value.range {
            let byte = bytes[index]
            guard isHexDigit(byte) else { return nil }
            result = result << 4 | UInt64(hexValue(byte))
        }
        return result
    }

    private static func isTimestamp(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        bytes[range].allSatisfy { ($0 &- Byte.zero) < 10 || $0 == Byte.dot || $0 == Byte.colon }
    }

    private static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, bytes[lower] == Byte.space || bytes[lower] == Byte.quote { lower += 1 }
        while upper > lower, bytes[upper - 1] == Byte.space || bytes[upper - 1] == Byte.newline || bytes[upper - 1] == Byte.carriageReturn { upper -= 1 }
        return lower..<upper
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte &- Byte.zero) < 10 || (byte | 0x20) &- Byte.lowerA < 6
    }

    private static func isUpperHexDigit(_ byte: UInt8) -> Bool {
        (byte &- Byte.zero) < 10 || (byte &- Byte.upperA) < 6
    }

    private static func hexValue(_ byte: UInt8) -> UInt8 {
        (byte &- Byte.zero) < 10 ? byte &- Byte.zero : (byte | 0x20) &- Byte.lowerA &+ 10
    }

    // MARK: - Byte search

    private static func firstIndex(of byte: UInt8, in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var index = start
        while index < bytes.count {
            if bytes[index] == byte { return index }
            index += 1
        }
        return nil
    }

    private static func find(_ pattern: StaticString, in bytes: UnsafeBufferPointer<UInt8>, from start: Int, before end: Int? = nil) -> Int? {
        let needle = UnsafeBufferPointer(start: pattern.utf8Start, count: pattern.utf8CodeUnitCount)
        let limit = (end ?? bytes.count) - needle.count
        guard let first = needle.first, start <= limit else { return nil }
        var index = start
        while index <= limit {
            if bytes[index] == first, memcmp(bytes.baseAddress! + index, needle.baseAddress!, needle.count) == 0 { return index }
            index += 1
        }
        return nil
    }

    private static func equal(_ word: UnsafeBufferPointer<UInt8>, _ pattern: StaticString) -> Bool {
        word.count == pattern.utf8CodeUnitCount && (word.isEmpty || memcmp(word.baseAddress!, pattern.utf8Start, word.count) == 0)
    }

    private static func hasPrefix(_ word: UnsafeBufferPointer<UInt8>, _ pattern: StaticString) -> Bool {
        word.count >= pattern.utf8CodeUnitCount && memcmp(word.baseAddress!, pattern.utf8Start, pattern.utf8CodeUnitCount) == 0
    }

    private enum Pattern {
        static let auditOpen: StaticString = "audit("
        static let auditColon: StaticString = "audit:"
        static let type: StaticString = "type="
        static let seccompWord: StaticString = "SECCOMP"
        static let seccompNumber: StaticString = "1326"
        static let avcWord: StaticString = "AVC"
        static let avcNumber: StaticString = "1400"
        static let apparmorWord: StaticString = "APPARMOR"
        static let apparmorNumberPrefix: StaticString = "150"
        static let avcMarker: StaticString = "avc:"
    }

    private enum Key {
        static let pid: StaticString = "pid"
        static let exe: StaticString = "exe"
        static let comm: StaticString = "comm"
        static let arch: StaticString = "arch"
        static let name: StaticString = "name"
        static let tclass: StaticString = "tclass"
        static let syscall: StaticString = "syscall"
        static let profile: StaticString = "profile"
        static let apparmor: StaticString = "apparmor"
        static let scontext: StaticString = "scontext"
        static let tcontext: StaticString = "tcontext"
        static let operation: StaticString = "operation"
    }

    private enum Byte {
        static let space = UInt8(ascii: " ")
        static let colon = UInt8(ascii: ":")
        static let semicolon = UInt8(ascii: ";")
        static let equals = UInt8(ascii: "=")
        static let quote = UInt8(ascii: "\"")
        static let apostrophe = UInt8(ascii: "'")
        static let openBrace = UInt8(ascii: "{")
        static let closeBrace = UInt8(ascii: "}")
        static let closeParen = UInt8(ascii: ")")
        static let dot = UInt8(ascii: ".")
        static let minus = UInt8(ascii: "-")
        static let zero = UInt8(ascii: "0")
        static let lowerA = UInt8(ascii: "a")
        static let upperA = UInt8(ascii: "A")
        static let newline = UInt8(ascii: "\n")
        static let carriageReturn = UInt8(ascii: "\r")
        static let groupSeparator: UInt8 = 0x1d
    }
}
