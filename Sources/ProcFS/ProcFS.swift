#if canImport(Glibc)
import Glibc
#endif

/// Reading the kernel's `/proc` files: the operator's own process metrics and the log
/// enricher's view of other processes use the same reader and `stat` parser.
public enum ProcFS {
    /// The text of a `/proc` file (they report size 0, so it is read until its end), at most
    /// `limit` bytes; nil when it cannot be opened (e.g. the process is gone).
    public static func read(_ path: String, limit: Int = 1 << 20) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The fields of `/proc/<pid>/stat` the operator uses. The command name may contain spaces
    /// and parentheses, so fields are counted after its last `)`; missing fields are 0.
    public struct Stat: Equatable, Sendable {
        /// The parent's pid.
        public var parent: Int32 = 0
        public var utime = 0
        public var stime = 0
        /// Clock ticks after boot at which the process started: with the pid, it identifies the process.
        public var startTime = 0
        public var vsize = 0
        public var rss = 0

        public init(_ text: String) {
            guard let close = text.lastIndex(of: ")") else { return }
            // After ")": field 3 (state) is at index 0.
            let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
            func field(_ number: Int) -> Int { fields.count > number - 3 ? Int(fields[number - 3]) ?? 0 : 0 }
            parent = Int32(clamping: field(4))
            utime = field(14)
            stime = field(15)
            startTime = field(22)
            vsize = field(23)
            rss = field(24)
        }
    }
}
