import Logging
import ProcFS
import ServiceLifecycle

/// Hands a role's start-up pages back to the kernel once the role is ready (see
/// ``ResidentPages``): the first time every readiness check passes, and the role has then been
/// ready for `settle` (its first pass over the caches), it releases the file-backed pages and
/// logs the resident size before and after. A role that never becomes ready releases nothing.
/// Then it idles until shutdown, as a service of the role's group must.
public struct StartupPageRelease: Service {
    private let checks: [HealthServer.Check]
    private let settle: Duration
    private let release: @Sendable () -> Int?
    private let logger: Logger

    /// `release` does the releasing and returns the bytes advised (nil: not supported); tests
    /// replace it, so that a test process shared by many tests keeps its pages.
    public init(
        checks: [HealthServer.Check], settle: Duration = .seconds(1),
        release: @escaping @Sendable () -> Int? = { ResidentPages.releaseFilePages() }, logger: Logger
    ) {
        self.checks = checks
        self.settle = settle
        self.release = release
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled, !checks.allSatisfy({ $0.isReady() }) {
                try? await Task.sleep(for: .milliseconds(100))
            }
            try? await Task.sleep(for: settle)
            guard !Task.isCancelled else { return }
            let before = residentKiB()
            let advised = release()
            logger.info("process.startup_pages_released", metadata: [
                "advised_kib": "\((advised ?? 0) / 1024)", "supported": "\(advised != nil)",
                "rss_kib_before": "\(before)", "rss_kib_after": "\(residentKiB())",
            ])
        }
        try? await gracefulShutdown()
    }

    private func residentKiB() -> Int {
        ProcessMetrics.current().residentBytes / 1024
    }
}
