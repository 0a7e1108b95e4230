import CAppArmor
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why an AppArmor profile could not be compiled, loaded or removed on this node.
public struct AppArmorError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The kernel has no (enabled) AppArmor: nothing can be loaded on this node.
        case notSupported
        /// The profile text does not compile, or defines no profile of the object's name.
        case invalidPolicy
        /// The kernel refused the compiled policy, or its removal.
        case kernel
        /// The kernel has no profile of that name to remove.
        case notLoaded
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// The kernel side of AppArmor: replace (load or update) compiled policy, remove a profile by
/// name. A protocol so that the daemon's ordering is tested without an AppArmor kernel.
public protocol AppArmorKernel: Sendable {
    /// nil when the kernel can load policy, else why not.
    func unsupportedReason() -> String?
    /// Loads or replaces profile `name` from its binary policy.
    func replace(_ name: String, compiled: [UInt8]) throws(AppArmorError)
    func remove(_ name: String) throws(AppArmorError)
}

/// The running kernel through libapparmor (`aa_is_enabled`, `aa_kernel_interface_*`).
public struct LibAppArmorKernel: AppArmorKernel {
    public init() {}

    public func unsupportedReason() -> String? {
        if aa_is_enabled() == 1 { return nil }
        let code = errno
        switch code {
        case ENOSYS, ENOENT: return "AppArmor not supported on node"
        default: return "AppArmor not enabled on node: \(String(cString: strerror(code)))"
        }
    }

    public func replace(_ name: String, compiled: [UInt8]) throws(AppArmorError) {
        let interface = try open()
        defer { aa_kernel_interface_unref(interface) }
        let rc = compiled.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { aa_kernel_interface_replace_policy(interface, $0.baseAddress, $0.count) }
        }
        guard rc == 0 else { throw AppArmorError(.kernel, "the kernel refused profile \(name): \(String(cString: strerror(errno)))") }
    }

    public func remove(_ name: String) throws(AppArmorError) {
        let interface = try open()
        defer { aa_kernel_interface_unref(interface) }
        guard aa_kernel_interface_remove_policy(interface, name) == 0 else {
            let code = errno
            throw AppArmorError(code == ENOENT ? .notLoaded : .kernel, "the kernel did not remove profile \(name): \(String(cString: strerror(code)))")
        }
    }

    private func open() throws(AppArmorError) -> OpaquePointer {
        var interface: OpaquePointer?
        guard aa_kernel_interface_new(&interface, nil, nil) == 0, let interface else {
            throw AppArmorError(.kernel, "cannot open the kernel's AppArmor interface: \(String(cString: strerror(errno)))")
        }
        return interface
    }
}

/// Compiles profile text with `apparmor_parser` (which libapparmor leaves to it) and hands
/// the binary policy to the kernel: `load` checks support first, compiles, checks that the text
/// defines a profile named like the object (upstream's rule), then replaces; nothing reaches
/// the kernel unless all of that succeeded.
public struct AppArmorLoader: Sendable {
    public var kernel: any AppArmorKernel
    public var parser: String
    /// A features file to compile against instead of the running kernel's (tests, and nodes
    /// where the parser cannot read the kernel's).
    public var featuresFile: String?

    public init(kernel: any AppArmorKernel = LibAppArmorKernel(), parser: String = "/usr/sbin/apparmor_parser", featuresFile: String? = nil) {
        self.kernel = kernel
        self.parser = parser
        self.featuresFile = featuresFile
    }

    /// Compiles and loads (or replaces) profile `name` from `text`.
    public func load(name: String, text: String) async throws(AppArmorError) {
        if let reason = kernel.unsupportedReason() { throw AppArmorError(.notSupported, reason) }
        let compiled = try await compile(name: name, text: text)
        try kernel.replace(name, compiled: compiled)
    }

    /// Removes profile `name` from the kernel.
    public func unload(name: String) throws(AppArmorError) {
        if let reason = kernel.unsupportedReason() { throw AppArmorError(.notSupported, reason) }
        try kernel.remove(name)
    }

    /// The binary policy of `text`, which must define profile `name`.
    public func compile(name: String, text: String) async throws(AppArmorError) -> [UInt8] {
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/") else {
            throw AppArmorError(.invalidPolicy, "\"\(name)\" cannot name an AppArmor profile")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spo-apparmor-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: directory.appendingPathComponent(name))
        } catch {
            throw AppArmorError(.invalidPolicy, "cannot stage the profile for apparmor_parser: \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        // Named like the profile, so the parser's messages name it rather than a temporary path.
        let source = directory.appendingPathComponent(name).path, output = directory.appendingPathComponent("\(name).bin").path
        let features = featuresFile.map { ["-M", $0] } ?? []

        let names = try await run(["-N"] + features + [source], in: directory)
        let defined = names.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("Cache read/write disabled") }
        guard defined.contains(name) else {
            throw AppArmorError(.invalidPolicy, "policy \"\(name)\" is not loaded: AppArmorProfile name must match defined policy (the text defines \(defined.isEmpty ? "no profile" : defined.joined(separator: ", ")))")
        }
        _ = try await run(["-Q", "-K"] + features + ["-o", output, source], in: directory)
        guard let bytes = FileManager.default.contents(atPath: output), !bytes.isEmpty else {
            throw AppArmorError(.invalidPolicy, "apparmor_parser wrote no policy")
        }
        return [UInt8](bytes)
    }

    /// Runs the parser to completion without blocking a Swift concurrency thread; its output
    /// (stdout and stderr), or the error with its last lines.
    private func run(_ arguments: [String], in directory: URL) async throws(AppArmorError) -> String {
        let log = directory.appendingPathComponent("parser-\(arguments.first ?? "").log").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([parser] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, parser, &actions, nil, argv, environ)
        guard rc == 0 else { throw AppArmorError(.invalidPolicy, "cannot run \(parser): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0, errno != EINTR { throw AppArmorError(.invalidPolicy, "waiting for apparmor_parser: \(String(cString: strerror(errno)))") }
            try? await Task.sleep(for: .milliseconds(5))
        }
        let text = FileManager.default.contents(atPath: log).map { String(decoding: $0, as: UTF8.self) } ?? ""
        guard status == 0 else {
            let reason = text.replacingOccurrences(of: directory.path + "/", with: "")
                .split(separator: "\n").filter { !$0.hasPrefix("Cache read/write disabled") }.joined(separator: "; ")
            throw AppArmorError(.invalidPolicy, reason.isEmpty ? "apparmor_parser failed (status \(status))" : reason)
        }
        return text
    }
}
