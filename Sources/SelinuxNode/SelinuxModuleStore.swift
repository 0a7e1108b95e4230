import CSELinux
import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why the policy store refused a change, with libsemanage's own messages.
public struct SelinuxStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public var operation: String
    public var message: String
    /// The node has no policy store at all (so nothing of ours can be installed there).
    public var storeMissing: Bool

    public init(operation: String, message: String, storeMissing: Bool = false) {
        self.operation = operation
        self.message = message
        self.storeMissing = storeMissing
    }

    public var description: String { message.isEmpty ? operation : "\(operation): \(message)" }
}

/// A change to the node's SELinux modules: CIL modules to install (or upgrade) and modules
/// to remove, committed together.
public struct SelinuxModuleChange: Sendable, Hashable {
    public var install: [String: String]
    public var remove: [String]

    public init(install: [String: String] = [:], remove: [String] = []) {
        self.install = install
        self.remove = remove
    }
}

/// What the SELinux reconcilers need from the node: install and remove modules, and what is
/// installed. A protocol so that tests of the reconcilers run without a policy store.
public protocol SelinuxModules: Sendable {
    func apply(_ change: SelinuxModuleChange) async throws(SelinuxStoreError)
    /// The modules installed at the priority `apply` uses, by name, with the CIL each was
    /// installed from. The system policy's modules (priority 100) are not among them.
    func sources() async throws(SelinuxStoreError) -> [String: String]
}

/// The node's SELinux policy store through libsemanage, in process (no selinuxd).
///
/// Every change is one libsemanage transaction: connect, install/remove, commit (a full policy
/// rebuild, seconds long), disconnect. Commits are global to the store, so they run one at a
/// time, on a dedicated queue rather than a Swift concurrency thread. A failed commit leaves
/// the store as it was. After a commit the new policy is loaded into the kernel when the node
/// runs SELinux; otherwise only the store changes.
///
/// libsemanage works out its store paths once per process, so a process uses one root: a
/// store under another root is refused with a clear error rather than silently given the
/// first root's store.
public final class SelinuxModuleStore: SelinuxModules {
    public let root: String
    public let store: String
    /// One queue for all stores: libsemanage's root is process-wide.
    private static let queue = DispatchQueue(label: "spo.selinux.store")
    /// The root libsemanage was first used with (accessed on `queue` only).
    nonisolated(unsafe) private static var processRoot: String?

    public init(root: String = "/", store: String = "default") {
        self.root = root
        self.store = store
    }

    /// Whether the kernel runs SELinux (then commits reload the policy).
    public static var kernelEnabled: Bool { cselinux_kernel_enabled() == 1 }

    public func apply(_ change: SelinuxModuleChange) async throws(SelinuxStoreError) {
        try await session(reload: Self.kernelEnabled) { (handle) throws(SelinuxStoreError) -> Void in
            for name in change.remove {
                if cselinux_store_remove(handle, name) != 0 {
                    throw SelinuxStoreError(operation: "removing module \(name)", message: String(cString: cselinux_store_take_messages(handle)))
                }
            }
            for (name, cil) in change.install.sorted(by: { $0.key < $1.key }) {
                let rc = cil.withCString { cselinux_store_install(handle, name, $0, strlen($0)) }
                if rc != 0 {
                    throw SelinuxStoreError(operation: "installing module \(name)", message: String(cString: cselinux_store_take_messages(handle)))
                }
            }
            _ = cselinux_store_take_messages(handle)
            if cselinux_store_commit(handle) < 0 {
                let messages = String(cString: cselinux_store_take_messages(handle))
                throw SelinuxStoreError(operation: "committing the policy", message: Self.errors(in: messages))
            }
        }
    }

    /// The priority libsemanage installs at unless told otherwise (and `semodule -i` too), so
    /// that modules installed by the upstream operator are upgraded in place.
    public static let priority: UInt16 = 400

    public func sources() async throws(SelinuxStoreError) -> [String: String] {
        try await session(reload: false) { (handle) throws(SelinuxStoreError) -> [String: String] in
            var length = 0
            guard let buffer = cselinux_store_sources(handle, Self.priority, &length) else {
                throw SelinuxStoreError(operation: "reading the installed modules", message: String(cString: cselinux_store_take_messages(handle)))
            }
            defer { free(buffer) }
            // NUL-terminated name and source, alternating.
            let strings = UnsafeRawBufferPointer(start: buffer, count: length).split(separator: 0, omittingEmptySubsequences: false)
                .dropLast().map { String(decoding: $0, as: UTF8.self) }
            var sources: [String: String] = [:]
            for index in stride(from: 0, to: strings.count - 1, by: 2) { sources[strings[index]] = strings[index + 1] }
            return sources
        }
    }

    /// libsemanage's messages without the warnings every commit prints (e.g. about users
    /// missing from the password file).
    static func errors(in messages: String) -> String {
        let lines = messages.split(separator: "\n").filter { !$0.contains("not in password file") }
        return lines.joined(separator: "; ")
    }

    private func session<T: Sendable>(
        reload: Bool, _ body: @escaping @Sendable (OpaquePointer) throws(SelinuxStoreError) -> T
    ) async throws(SelinuxStoreError) -> T {
        let root = self.root, store = self.store
        guard Self.storeExists(root: root, store: store) else {
            throw SelinuxStoreError(operation: "opening the policy store", message: "no SELinux policy store \"\(store)\" under \(root)", storeMissing: true)
        }
        let result: Result<T, SelinuxStoreError> = await withCheckedContinuation { continuation in
            Self.queue.async {
                if let problem = Self.claimRoot(root) {
                    continuation.resume(returning: .failure(SelinuxStoreError(operation: "opening the policy store", message: problem)))
                    return
                }
                var error = [CChar](repeating: 0, count: 1024)
                guard let handle = cselinux_store_open(root, store, reload ? 1 : 0, &error, error.count) else {
                    let message = error.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                    continuation.resume(returning: .failure(SelinuxStoreError(operation: "opening the policy store", message: message)))
                    return
                }
                defer { cselinux_store_close(handle) }
                continuation.resume(returning: Result { () throws(SelinuxStoreError) -> T in try body(handle) })
            }
        }
        return try result.get()
    }

    /// Whether `store` exists under `root`: checked before waiting for the queue (behind
    /// commits of seconds), so a node without a store hears it at once.
    private static func storeExists(root: String, store: String) -> Bool {
        var isDirectory: ObjCBool = false
        let path = (root.hasSuffix("/") ? root : root + "/") + "var/lib/selinux/\(store)"
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Claims `root` as the process's libsemanage root on first use; why not otherwise.
    /// Runs on `queue`.
    private static func claimRoot(_ root: String) -> String? {
        if let processRoot, processRoot != root {
            return "this process already uses the policy root \(processRoot); libsemanage keeps one root per process"
        }
        processRoot = root
        return nil
    }
}
