import CSeccomp
import Foundation
import SPOAPI

#if canImport(Glibc)
import Glibc
#endif

/// Why a profile cannot become a seccomp filter on this node, with the field at fault.
public struct SeccompCompileError: Error, Hashable, Sendable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

/// A seccomp filter compiled by libseccomp from a SeccompProfile spec, with the semantics
/// runc applies to the same JSON: `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE` return `errnoRet` or
/// `EPERM`, rules whose action equals the default are skipped, argument filters on the same
/// index become separate rules.
///
/// Compiling checks what the kernel will see: every syscall name must exist on every listed
/// architecture, and libseccomp must accept every rule.
public final class SeccompFilter {
    private let context: scmp_filter_ctx

    private init(context: scmp_filter_ctx) {
        self.context = context
    }

    deinit {
        seccomp_release(context)
    }

    /// The libseccomp version this binary is linked against, e.g. `2.5.4`.
    public static var libraryVersion: String {
        guard let version = seccomp_version() else { return "unknown" }
        return "\(version.pointee.major).\(version.pointee.minor).\(version.pointee.micro)"
    }

    public static func compile(_ spec: SeccompProfile.Spec) throws(SeccompCompileError) -> SeccompFilter {
        let defaultField = "spec.defaultAction"
        guard let defaultAction = spec.defaultAction else { throw SeccompCompileError(field: defaultField, "required") }
        let defaultValue = try action(defaultAction, errno: nil, field: defaultField)
        guard let context = seccomp_init(defaultValue) else {
            throw SeccompCompileError(field: defaultField, "libseccomp cannot start a filter with \(defaultAction)")
        }
        let filter = SeccompFilter(context: context)

        let architectures = try Self.architectures(spec.architectures)
        for (index, (token, _)) in architectures.enumerated() where token != seccomp_arch_native() {
            let rc = seccomp_arch_add(context, token)
            if rc != 0, rc != -EEXIST {
                throw SeccompCompileError(field: "spec.architectures[\(index)]", "libseccomp cannot add it: \(Self.errorText(rc))")
            }
        }
        for (index, flag) in (spec.flags ?? []).enumerated() {
            try filter.apply(flag, field: "spec.flags[\(index)]")
        }

        for (ruleIndex, rule) in (spec.syscalls ?? []).enumerated() {
            let ruleField = "spec.syscalls[\(ruleIndex)]"
            guard let ruleAction = rule.action else { throw SeccompCompileError(field: "\(ruleField).action", "required") }
            let value = try action(ruleAction, errno: rule.errnoRet, field: "\(ruleField).action")
            for (nameIndex, name) in (rule.names ?? []).enumerated() {
                let nameField = "\(ruleField).names[\(nameIndex)]"
                let missing = architectures.filter { !Self.exists(name, on: $0.token) }
                if !missing.isEmpty {
                    let names = missing.map(\.name).joined(separator: ", ")
                    throw SeccompCompileError(field: nameField, "unknown syscall \"\(name)\" on \(names)")
                }
                // Like runc, a rule that repeats the default action adds nothing.
                if value == defaultValue { continue }
                try filter.addRule(value, syscall: seccomp_syscall_resolve_name(name), args: rule.args ?? [], field: nameField)
            }
        }
        return filter
    }

    /// The size of the compiled BPF program, in instructions (each 8 bytes).
    public func bpfInstructionCount() throws(SeccompCompileError) -> Int {
        var template = Array("\(NSTemporaryDirectory())/seccomp-bpf-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { throw SeccompCompileError(field: "", "cannot create a scratch file: \(String(cString: strerror(errno)))") }
        defer {
            close(descriptor)
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        }
        let rc = seccomp_export_bpf(context, descriptor)
        guard rc == 0 else { throw SeccompCompileError(field: "", "libseccomp cannot export the filter: \(Self.errorText(rc))") }
        let size = lseek(descriptor, 0, SEEK_END)
        return Int(size) / 8
    }

    /// Installs the filter on the calling thread; a later `execve` keeps it. Sets
    /// `no_new_privs` first (libseccomp's default).
    public func load() throws(SeccompCompileError) {
        let rc = seccomp_load(context)
        guard rc == 0 else { throw SeccompCompileError(field: "", "seccomp_load failed: \(Self.errorText(rc))") }
    }

    // MARK: Translation

    private static func action(_ action: SeccompAction, errno: Int64?, field: String) throws(SeccompCompileError) -> UInt32 {
        let errnoValue = UInt16(clamping: errno ?? Int64(EPERM))
        switch action {
        case .kill, .killThread: return cseccomp_act_kill_thread()
        case .killProcess: return cseccomp_act_kill_process()
        case .trap: return cseccomp_act_trap()
        case .errno: return cseccomp_act_errno(errnoValue)
        case .trace: return cseccomp_act_trace(errnoValue)
        case .allow: return cseccomp_act_allow()
        case .log: return cseccomp_act_log()
        case .notify: return cseccomp_act_notify()
        default: throw SeccompCompileError(field: field, "unsupported action \"\(action)\"")
        }
    }

    /// libseccomp's tokens for the listed architectures (the native one when none is listed).
    private static func architectures(_ names: [SeccompArchitecture]?) throws(SeccompCompileError) -> [(token: UInt32, name: String)] {
        guard let names, !names.isEmpty else { return [(seccomp_arch_native(), "the native architecture")] }
        var tokens: [(token: UInt32, name: String)] = []
        for (index, name) in names.enumerated() {
            let token: UInt32
            if name.rawValue == "SCMP_ARCH_NATIVE" {
                token = seccomp_arch_native()
            } else {
                let short = name.rawValue.hasPrefix("SCMP_ARCH_") ? String(name.rawValue.dropFirst("SCMP_ARCH_".count)).lowercased() : ""
                token = seccomp_arch_resolve_name(short)
            }
            guard token != 0 else { throw SeccompCompileError(field: "spec.architectures[\(index)]", "unknown architecture \"\(name)\"") }
            if !tokens.contains(where: { $0.token == token }) { tokens.append((token, name.rawValue)) }
        }
        return tokens
    }

    private func apply(_ flag: SeccompFlag, field: String) throws(SeccompCompileError) {
        let attribute: scmp_filter_attr
        switch flag.rawValue {
        case "SECCOMP_FILTER_FLAG_TSYNC": attribute = SCMP_FLTATR_CTL_TSYNC
        case "SECCOMP_FILTER_FLAG_LOG": attribute = SCMP_FLTATR_CTL_LOG
        case "SECCOMP_FILTER_FLAG_SPEC_ALLOW": attribute = SCMP_FLTATR_CTL_SSB
        case "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV":
            throw SeccompCompileError(field: field, "not supported by libseccomp \(Self.libraryVersion) on this node")
        default:
            throw SeccompCompileError(field: field, "unknown flag \"\(flag)\"")
        }
        let rc = seccomp_attr_set(context, attribute, 1)
        guard rc == 0 else { throw SeccompCompileError(field: field, "libseccomp rejects it: \(Self.errorText(rc))") }
    }

    private func addRule(_ action: UInt32, syscall: Int32, args: [SeccompProfile.Arg], field: String) throws(SeccompCompileError) {
        var comparisons: [scmp_arg_cmp] = []
        for (index, arg) in args.enumerated() {
            let op: scmp_compare
            switch arg.op?.rawValue {
            case "SCMP_CMP_NE": op = SCMP_CMP_NE
            case "SCMP_CMP_LT": op = SCMP_CMP_LT
            case "SCMP_CMP_LE": op = SCMP_CMP_LE
            case "SCMP_CMP_EQ": op = SCMP_CMP_EQ
            case "SCMP_CMP_GE": op = SCMP_CMP_GE
            case "SCMP_CMP_GT": op = SCMP_CMP_GT
            case "SCMP_CMP_MASKED_EQ": op = SCMP_CMP_MASKED_EQ
            default: throw SeccompCompileError(field: "\(field) args[\(index)].op", "unknown operator \"\(arg.op?.rawValue ?? "")\"")
            }
            comparisons.append(scmp_arg_cmp(
                arg: UInt32(clamping: arg.index ?? 0), op: op,
                datum_a: UInt64(bitPattern: arg.value ?? 0), datum_b: UInt64(bitPattern: arg.valueTwo ?? 0)))
        }
        // libseccomp takes one condition per argument; repeated indices become separate rules (as runc does).
        let groups: [[scmp_arg_cmp]]
        if Set(comparisons.map(\.arg)).count == comparisons.count {
            groups = [comparisons]
        } else {
            groups = comparisons.map { [$0] }
        }
        for group in groups {
            let rc = group.withUnsafeBufferPointer { buffer in
                seccomp_rule_add_array(context, action, syscall, UInt32(buffer.count), buffer.baseAddress)
            }
            guard rc == 0 else { throw SeccompCompileError(field: field, "libseccomp rejects the rule: \(Self.errorText(rc))") }
        }
    }

    /// libseccomp resolves a name that exists on another architecture only to a pseudo
    /// syscall number (-10000 and below); multiplexed calls (socketcall, ipc) use small
    /// negative numbers and are real.
    static func exists(_ name: String, on architecture: UInt32) -> Bool {
        let number = seccomp_syscall_resolve_name_arch(architecture, name)
        return number != cseccomp_error_syscall() && number > -10_000
    }

    /// Whether `name` is a syscall of the architecture with audit token `architecture`.
    public static func syscallExists(_ name: String, architecture: UInt32) -> Bool {
        exists(name, on: architecture)
    }

    private static func errorText(_ rc: Int32) -> String {
        String(cString: strerror(-rc))
    }
}

/// Syscall-name validation by libseccomp, for ``ValidationContext``: a name is known when
/// libseccomp resolves it on the native architecture.
public struct LibseccompSyscallNames: SyscallNameValidator {
    public init() {}

    public func isKnown(_ name: String) -> Bool {
        seccomp_syscall_resolve_name(name) != cseccomp_error_syscall()
    }
}

/// Syscall numbers back to names through libseccomp, per audit architecture (the `arch=`
/// value of an audit record, e.g. `0xc000003e` for x86_64), with a cache: the log enricher
/// looks up every record. Not thread-safe; each owner keeps its own table.
public struct SyscallNameTable {
    private struct Key: Hashable {
        var arch: UInt32
        var number: Int32
    }

    private var cache: [Key: String?] = [:]
    /// The node's architecture, used when a record has no `arch`.
    public let nativeArchitecture: UInt32

    public init() {
        nativeArchitecture = seccomp_arch_native()
    }

    /// The name of `number` on `arch` (native when nil), nil when libseccomp knows no such
    /// syscall or architecture.
    public mutating func name(of number: Int32, arch: UInt32?) -> String? {
        let key = Key(arch: arch ?? nativeArchitecture, number: number)
        if let cached = cache[key] { return cached }
        var name: String?
        if let pointer = seccomp_syscall_resolve_num_arch(key.arch, number) {
            name = String(cString: pointer)
            free(pointer)
        }
        // Bounded: a hostile log can only name so many (arch, number) pairs before we stop caching.
        if cache.count < 8192 { cache[key] = name }
        return name
    }
}
