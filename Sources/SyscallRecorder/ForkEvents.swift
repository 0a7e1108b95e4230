import CSyscallTrace

#if canImport(Glibc)
import Glibc
#endif

/// Fork events from the kernel's proc connector, to follow a command's descendants even when
/// they exit before anyone looks at /proc. Needs CAP_NET_ADMIN.
public final class ForkEvents {
    private let socket: Int32

    /// Subscribes; nil when the proc connector is unavailable (not root, no CONFIG_PROC_EVENTS).
    public init?() {
        socket = csyscalltrace_proc_events_open()
        if socket < 0 { return nil }
    }

    deinit { close(socket) }

    /// The forks since the last call, in order: (parent process, new process).
    public func drain() -> [(parent: Int32, child: Int32)] {
        var pairs = [Int32](repeating: 0, count: 2 * 256)
        var forks: [(parent: Int32, child: Int32)] = []
        while true {
            let count = pairs.withUnsafeMutableBufferPointer { csyscalltrace_proc_events_forks(socket, $0.baseAddress, 256) }
            guard count > 0 else { break }
            for index in 0..<Int(count) { forks.append((pairs[2 * index], pairs[2 * index + 1])) }
            if count < 256 { break }
        }
        return forks
    }
}
