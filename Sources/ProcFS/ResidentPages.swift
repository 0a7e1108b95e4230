#if canImport(Glibc)
import Glibc
#endif

/// Handing start-up memory back to the kernel. A long-running role runs much of its code only
/// while it starts (argument parsing, kubeconfig, TLS set-up, the first lists), and the kernel
/// maps file pages in windows around each page touched, so a process that has just started holds
/// most of its binary resident. Once the role serves, ``releaseFilePages()`` asks the kernel to
/// reclaim the file-backed pages as memory pressure would (`MADV_PAGEOUT`): nothing is discarded
/// (pages the process has written are anonymous and stay, or go to swap), code and data still in
/// use fault back in when next used, and pages other processes also map stay where they are.
///
/// The executable gets more: reclaim only reaches pages the process maps, while the kernel's
/// read-ahead has cached much of the binary that was never mapped, and every later fault would
/// map up to 16 of those cached neighbours with it. So the binary's mappings are also marked
/// for random access (no read-ahead) and its cached pages that no process maps are dropped:
/// from then on the process holds the code it runs, page by page.
public enum ResidentPages {
    /// A mapping's address range and the file it maps.
    public struct Range: Equatable, Sendable {
        public var start: UInt
        public var end: UInt
        public var path: String

        public init(start: UInt, end: UInt, path: String = "") {
            self.start = start
            self.end = end
            self.path = path
        }
    }

    /// Linux's `MADV_PAGEOUT` (5.4 and later); older C headers lack the name.
    static let pageOut: Int32 = 21

    /// The private, readable, file-backed mappings of a `/proc/<pid>/maps` text: code and data
    /// of the executable and its libraries. Anonymous, shared and special (`[vdso]`, `[stack]`)
    /// mappings are left out.
    public static func privateFileMappings(_ maps: String) -> [Range] {
        maps.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            // The path is padded to a column: what follows the inode, without the padding.
            guard fields.count == 6, case let path = fields[5].drop(while: { $0 == " " }), path.hasPrefix("/"),
                  fields[1].count == 4, fields[1].hasPrefix("r"), fields[1].hasSuffix("p")
            else { return nil }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), start < end
            else { return nil }
            return Range(start: start, end: end, path: String(path))
        }
    }

    /// Advises the kernel to reclaim this process's file-backed pages, and to read its
    /// executable page by page from now on. Returns the bytes of the mappings advised, or nil
    /// when the kernel refuses the advice (before Linux 5.4).
    @discardableResult
    public static func releaseFilePages() -> Int? {
        guard let maps = ProcFS.read("/proc/self/maps", limit: 4 << 20) else { return nil }
        return release(privateFileMappings(maps), ownFile: executablePath())
    }

    /// Advises the kernel to reclaim the pages of `ranges`, which must be mappings of this
    /// process. The mappings of `ownFile` are marked for random access and the file's cached
    /// pages that no process maps are dropped. Returns the bytes advised, or nil when the kernel
    /// refused every range as an invalid advice (a kernel before 5.4).
    @discardableResult
    public static func release(_ ranges: [Range], ownFile: String? = nil) -> Int? {
        var advised = 0
        var refused = false
        for range in ranges {
            let length = Int(range.end - range.start)
            let address = UnsafeMutableRawPointer(bitPattern: range.start)
            if madvise(address, length, pageOut) == 0 {
                advised += length
                if range.path == ownFile { _ = madvise(address, length, MADV_RANDOM) }
            } else {
                // EINVAL: an older kernel, or a mapping the advice does not apply to (locked,
                // device memory); ENOMEM: unmapped since the maps were read. Skip it.
                refused = refused || errno == EINVAL
            }
        }
        if advised > 0, let ownFile {
            dropCachedPages(of: ownFile)
        }
        return advised == 0 && refused ? nil : advised
    }

    /// Drops the clean cached pages of the file at `path` that no process maps.
    static func dropCachedPages(of path: String) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED)
        close(descriptor)
    }

    /// The path of this process's executable, as `/proc/self/maps` names it.
    static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
