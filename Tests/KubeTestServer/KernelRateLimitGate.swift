import Foundation

/// The kernel's printk rate limit (`kernel.printk_ratelimit`, `kernel.printk_ratelimit_burst`)
/// is machine-wide, and without auditd every audit record in `/dev/kmsg` goes through it: at the
/// default 10 records per 5 s, a test that floods the log (a `SCMP_ACT_LOG` profile) makes the
/// kernel drop the records another test waits for.
///
/// Every test in this process that needs the kernel's audit records holds the limit off for as
/// long as it runs (``withoutPrintkRateLimit(_:)``, shared: several at once), and a test that
/// provokes drops on purpose holds a limit of its own (``withPrintkRateLimit(intervalSeconds:burst:_:)``,
/// exclusive: it waits for the others and they wait for it). The values found before the first
/// holder come back when the last one leaves, so the machine keeps its settings (also after a
/// crashed run: the next run restores what the crashed one had saved).
public func withoutPrintkRateLimit<T>(_ body: () async throws -> T) async rethrows -> T {
    await PrintkRateLimitGate.shared.acquire(.shared)
    do {
        let result = try await body()
        await PrintkRateLimitGate.shared.release()
        return result
    } catch {
        await PrintkRateLimitGate.shared.release()
        throw error
    }
}

/// Runs `body` while the kernel prints at most `burst` rate-limited lines per `intervalSeconds`,
/// with no other rate-limit holder running; see ``withoutPrintkRateLimit(_:)``.
public func withPrintkRateLimit<T>(intervalSeconds: Int, burst: Int, _ body: () async throws -> T) async rethrows -> T {
    await PrintkRateLimitGate.shared.acquire(.exclusive(intervalSeconds: intervalSeconds, burst: burst))
    do {
        let result = try await body()
        await PrintkRateLimitGate.shared.release()
        return result
    } catch {
        await PrintkRateLimitGate.shared.release()
        throw error
    }
}

/// A readers-writer gate over the two sysctls; the first holder saves them, the last restores them.
actor PrintkRateLimitGate {
    static let shared = PrintkRateLimitGate()

    enum Mode: Sendable {
        case shared
        case exclusive(intervalSeconds: Int, burst: Int)

        var isShared: Bool {
            if case .shared = self { return true }
            return false
        }
    }

    private var sharedHolders = 0
    private var exclusiveHeld = false
    private var waiting: [(mode: Mode, resume: CheckedContinuation<Void, Never>)] = []
    private var saved: (interval: String, burst: String)?

    private static let intervalPath = "/proc/sys/kernel/printk_ratelimit"
    private static let burstPath = "/proc/sys/kernel/printk_ratelimit_burst"

    func acquire(_ mode: Mode) async {
        if waiting.isEmpty, admit(mode) { return }
        await withCheckedContinuation { waiting.append((mode, $0)) }
    }

    func release() {
        if exclusiveHeld {
            exclusiveHeld = false
        } else {
            sharedHolders -= 1
        }
        if sharedHolders == 0, !exclusiveHeld { restore() }
        // Admit waiters in order: a run of shared ones together, or one exclusive.
        while let next = waiting.first, admit(next.mode) {
            waiting.removeFirst()
            next.resume.resume()
        }
    }

    /// Takes the gate for `mode` if it is free for it, setting the sysctls.
    private func admit(_ mode: Mode) -> Bool {
        switch mode {
        case .shared:
            guard !exclusiveHeld else { return false }
            if sharedHolders == 0 { save(); write(interval: 0, burst: nil) }
            sharedHolders += 1
        case .exclusive(let interval, let burst):
            guard !exclusiveHeld, sharedHolders == 0 else { return false }
            save()
            write(interval: interval, burst: burst)
            exclusiveHeld = true
        }
        return true
    }

    /// The values found before the first holder, kept on disk too while the limit is changed: a
    /// test process that crashes while holding it cannot restore them, and the next run does.
    private static let savedPath = "/tmp/security-profiles-operator-tests.printk-ratelimit"

    private func save() {
        guard saved == nil else { return }
        if let left = Self.read(Self.savedPath)?.split(separator: " "), left.count == 2 {
            saved = (String(left[0]), String(left[1]))
            return
        }
        guard let interval = Self.read(Self.intervalPath), let burst = Self.read(Self.burstPath) else { return }
        saved = (interval, burst)
        try? "\(interval) \(burst)\n".write(toFile: Self.savedPath, atomically: true, encoding: .utf8)
    }

    private func restore() {
        guard let saved else { return }
        try? "\(saved.interval)\n".write(toFile: Self.intervalPath, atomically: false, encoding: .utf8)
        try? "\(saved.burst)\n".write(toFile: Self.burstPath, atomically: false, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: Self.savedPath)
        self.saved = nil
    }

    private func write(interval: Int, burst: Int?) {
        try? "\(interval)\n".write(toFile: Self.intervalPath, atomically: false, encoding: .utf8)
        if let burst { try? "\(burst)\n".write(toFile: Self.burstPath, atomically: false, encoding: .utf8) }
    }

    private static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
