import CSyscallTrace

#if canImport(Glibc)
import Glibc
#endif

/// The eBPF engine of the node daemon's bpf recorder: one `tp_btf/sys_enter` program that sets
/// a bit per (mount namespace, syscall) for every process outside the host's mount namespace
/// (bpf/container_recorder.bpf.c). A container's processes share a mount namespace, so its
/// recording is the bitmap of that namespace. Attached while the daemon records any container.
/// Needs root (or CAP_BPF and CAP_PERFMON) and the kernel's BTF.
public final class ContainerSyscallRecorder: @unchecked Sendable {
    // The C handle is only touched under `lock`.
    private let handle: OpaquePointer
    private let lock = HandleLock()
    static let slots = 1024

    /// Why the program could not be loaded.
    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Loads and attaches the program, ignoring the mount namespace `hostMountNamespace` (the
    /// inode of `/proc/1/ns/mnt` in the host PID namespace).
    public init(hostMountNamespace: UInt32) throws(LoadError) {
        csyscalltrace_capture_libbpf_messages()
        let object = ContainerRecorderObject.bytes
        guard let loaded = object.withUnsafeBytes({ csyscalltrace_bpf_start($0.baseAddress, $0.count, UInt64(hostMountNamespace)) }) else {
            let code = errno
            let detail = String(cString: csyscalltrace_take_libbpf_messages()).split(separator: "\n").last.map { " (\($0))" } ?? ""
            throw LoadError(description: "cannot load the BPF program: \(String(cString: strerror(code)))\(detail)")
        }
        handle = loaded
    }

    deinit { csyscalltrace_bpf_stop(handle) }

    /// The syscall numbers made in `mountNamespace` since it was first seen (or forgotten), by
    /// audit architecture (the native one and, on x86_64, the 32-bit one).
    public func syscalls(ofMountNamespace mountNamespace: UInt32) -> [UInt32: Set<Int32>] {
        var bits = [UInt64](repeating: 0, count: 2 * Self.slots / 64)
        let rc = lock.withLock { bits.withUnsafeMutableBufferPointer { csyscalltrace_bpf_namespace_bits(handle, mountNamespace, $0.baseAddress, nil) } }
        guard rc == 0 else { return [:] }
        var result: [UInt32: Set<Int32>] = [:]
        for (word, value) in bits.enumerated() where value != 0 {
            for bit in 0..<64 where value & (1 << UInt64(bit)) != 0 {
                let slot = word * 64 + bit
                let arch = slot < Self.slots ? Architectures.native : Architectures.x86
                result[arch, default: []].insert(Int32(slot % Self.slots))
            }
        }
        return result
    }

    /// Drops what was recorded for `mountNamespace` (its inode may be reused by a later container).
    public func forget(mountNamespace: UInt32) {
        _ = lock.withLock { csyscalltrace_bpf_forget_namespace(handle, mountNamespace) }
    }

    /// The name of the cgroup (in the unified hierarchy) the first task seen in `mountNamespace`
    /// was in: a container's, which names its id; nil when the namespace has no entry, empty on a
    /// node without the unified hierarchy.
    public func cgroupName(ofMountNamespace mountNamespace: UInt32) -> String? {
        var bits = [UInt64](repeating: 0, count: 2 * Self.slots / 64)
        var name = [CChar](repeating: 0, count: Int(CSYSCALLTRACE_CGROUP_NAME))
        let rc = lock.withLock {
            bits.withUnsafeMutableBufferPointer { bits in
                name.withUnsafeMutableBufferPointer { csyscalltrace_bpf_namespace_bits(handle, mountNamespace, bits.baseAddress, $0.baseAddress) }
            }
        }
        guard rc == 0 else { return nil }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The mount namespaces with recorded calls.
    public func mountNamespaces() -> [UInt32] {
        var keys = [UInt32](repeating: 0, count: 16384)
        let count = lock.withLock { keys.withUnsafeMutableBufferPointer { csyscalltrace_bpf_namespaces(handle, $0.baseAddress, Int32($0.count)) } }
        return count > 0 ? Array(keys.prefix(Int(count))) : []
    }

    /// The inode of a process's mount namespace (`/proc/<pid>/ns/mnt` → `mnt:[<inode>]`).
    public static func mountNamespace(ofProcess pid: Int32, proc: String = "/proc") -> UInt32? {
        var buffer = [CChar](repeating: 0, count: 64)
        let count = readlink("\(proc)/\(pid)/ns/mnt", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        let text = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard text.hasPrefix("mnt:["), text.hasSuffix("]") else { return nil }
        return UInt32(text.dropFirst(5).dropLast())
    }
}

/// A pthread mutex serialising calls on the C handle.
final class HandleLock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()

    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }

    func withLock<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}
