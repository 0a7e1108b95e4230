#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The standard Prometheus process metrics (`process_cpu_seconds_total`,
/// `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`,
/// `process_max_fds`, `process_start_time_seconds`), read from `/proc/self` when scraped,
/// with the Prometheus client libraries' names and help texts.
struct ProcessMetrics: Equatable {
    var cpuSeconds: Double
    var residentBytes: Int
    var virtualBytes: Int
    var openFDs: Int
    var maxFDs: Int
    var startTimeSeconds: Double

    /// The current process's figures (zeros for what `/proc` does not tell).
    static func current() -> ProcessMetrics {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let stat = ProcStat(readFile("/proc/self/stat") ?? "")
        let bootTime = readFile("/proc/stat").flatMap(Self.bootTime(fromProcStat:)) ?? 0
        var limit = rlimit()
        let maxFDs = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Int(clamping: limit.rlim_cur) : 0
        return ProcessMetrics(
            cpuSeconds: ticks > 0 ? Double(stat.utime + stat.stime) / ticks : 0,
            residentBytes: stat.rss * Int(sysconf(Int32(_SC_PAGESIZE))),
            virtualBytes: stat.vsize,
            openFDs: countOpenFDs(),
            maxFDs: maxFDs,
            startTimeSeconds: ticks > 0 ? Double(bootTime) + Double(stat.startTime) / ticks : 0)
    }

    /// Appends the families in text format 0.0.4.
    func emit(into buffer: inout [UInt8]) {
        func family(_ name: String, _ type: String, _ help: String, _ value: String) {
            buffer.append(contentsOf: "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n".utf8)
        }
        family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", "\(cpuSeconds)")
        family("process_max_fds", "gauge", "Maximum number of open file descriptors.", "\(maxFDs)")
        family("process_open_fds", "gauge", "Number of open file descriptors.", "\(openFDs)")
        family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", "\(residentBytes)")
        family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", "\(startTimeSeconds)")
        family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", "\(virtualBytes)")
    }

    /// The fields of `/proc/<pid>/stat` used here (proc(5) numbering: utime 14, stime 15,
    /// starttime 22, vsize 23, rss 24). The command name (field 2) may contain spaces and
    /// parentheses, so fields are counted after its last `)`.
    struct ProcStat: Equatable {
        var utime = 0
        var stime = 0
        var startTime = 0
        var vsize = 0
        var rss = 0

        init(_ text: String) {
            guard let close = text.lastIndex(of: ")") else { return }
            // After ")": field 3 (state) is at index 0.
            let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
            func field(_ number: Int) -> Int { fields.count > number - 3 ? Int(fields[number - 3]) ?? 0 : 0 }
            utime = field(14)
            stime = field(15)
            startTime = field(22)
            vsize = field(23)
            rss = field(24)
        }
    }

    /// `btime` of `/proc/stat`: the boot time in seconds since the epoch.
    static func bootTime(fromProcStat text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Int(line.dropFirst(6).trimmingPrefix(" "))
        }
        return nil
    }

    private static func countOpenFDs() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { name in name[0] == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        // The directory stream itself holds one descriptor while counting.
        return max(0, count - 1)
    }

    private static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
