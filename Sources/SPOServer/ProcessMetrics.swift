import ProcFS

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
        let stat = ProcFS.Stat(ProcFS.read("/proc/self/stat") ?? "")
        let bootTime = ProcFS.read("/proc/stat").flatMap(Self.bootTime(fromProcStat:)) ?? 0
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
}
