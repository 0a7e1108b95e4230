import AuditKit
import AuditSources
import CoreMetrics
import DequeModule
import Logging
import SPOAPI
import SeccompCompiler
import ServiceLifecycle
import Synchronization

/// How the log enricher resolves, holds back and de-duplicates records.
public struct LogEnricherConfiguration: Sendable {
    /// The node's name (`NODE_NAME`), in every record.
    public var node: String
    /// Identical records within this window are logged once, then summarised.
    public var dedupWindow: Duration = .seconds(10)
    /// Distinct records tracked for de-duplication at once.
    public var dedupCapacity = 4096
    /// How long a record of a container that no pod lists yet waits for the pod to show up
    /// (the container may be starting) before it is reported without a pod.
    public var backlogTimeout: Duration = .seconds(10)
    /// Records held back at once, over all containers, and per container.
    public var backlogCapacity = 4096
    public var backlogPerContainer = 128
    /// Whether records are logged as `audit` lines and counted in `*_profile_audit_total`; the
    /// daemon's recorder runs an enricher for its sinks alone.
    public var writesAuditOutput = true

    public init(node: String) {
        self.node = node
    }
}

/// Takes every enriched record on the enricher's own task, in order: a profile recorder's
/// collection, which must not lose records to a full buffer. Must return quickly.
public protocol EnrichedRecordSink: Sendable {
    func consume(_ event: EnrichedAuditEvent)
}

/// New processes as the kernel's proc connector reports them: (parent, child) pairs since the
/// last call. A child inherits its parent's container, which tells the container of a process
/// that exited before its `/proc` entry could be read.
public protocol ForkEventSource: Sendable {
    func drain() -> [(parent: Int32, child: Int32)]
}

/// The log enricher (reference §6): reads audit records from a source, attributes each to the
/// pod container of its process, logs it as an `audit` line with upstream's fields, counts it in
/// `*_profile_audit_total`, and hands it to subscribers (the profile recorder).
///
/// One task does all of this, so memory stays bounded under floods: the source waits for it,
/// the pid cache, backlog and de-duplication table have fixed capacities, and subscribers get
/// bounded buffers.
public final class LogEnricher: Service, Sendable {
    private let source: any AuditSource
    private let processes: any ProcessTable
    private let pods: NodePodIndex?
    private let configuration: LogEnricherConfiguration
    private let logger: Logger
    private let metricsFactory: any MetricsFactory
    private let subscribers = Mutex<[Int: AsyncStream<EnrichedAuditEvent>.Continuation]>([:])
    private let nextSubscriber = Atomic<Int>(0)
    private let lost = Atomic<Int>(0)
    private let unattributed = Atomic<Int>(0)
    private let sinks: [any EnrichedRecordSink]
    private let forks: (any ForkEventSource)?

    /// `pods` nil: no API server (standalone), records carry only the node and container id.
    /// `metricsFactory` defaults to the process's bootstrapped one.
    /// `sinks` take every enriched record; `forks` lets records of processes that exited at once
    /// be attributed through their parent.
    public init(
        source: any AuditSource, processes: any ProcessTable, pods: NodePodIndex?, configuration: LogEnricherConfiguration, logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil, sinks: [any EnrichedRecordSink] = [], forks: (any ForkEventSource)? = nil
    ) {
        self.sinks = sinks
        self.forks = forks
        self.metricsFactory = metricsFactory ?? MetricsSystem.factory
        self.source = source
        self.processes = processes
        self.pods = pods
        self.configuration = configuration
        self.logger = logger
    }

    /// Every enriched record from now on; the newest `buffer` are kept for a slow reader.
    public func events(buffer: Int = 1024) -> AsyncStream<EnrichedAuditEvent> {
        let id = nextSubscriber.add(1, ordering: .relaxed).oldValue
        let (stream, continuation) = AsyncStream.makeStream(of: EnrichedAuditEvent.self, bufferingPolicy: .bufferingNewest(buffer))
        continuation.onTermination = { [weak self] _ in _ = self?.subscribers.withLock { $0.removeValue(forKey: id) } }
        subscribers.withLock { $0[id] = continuation }
        return stream
    }

    /// Audit records known lost so far (the kernel dropped them, or the source overran): a
    /// recording that spans a change of this number may be incomplete.
    public var recordsLost: Int { lost.load(ordering: .relaxed) }

    /// Records of processes that were gone before their container could be found (no `/proc`
    /// entry, no known parent): reported without a container.
    public var recordsUnattributed: Int { unattributed.load(ordering: .relaxed) }

    private func publish(_ event: EnrichedAuditEvent) {
        for sink in sinks { sink.consume(event) }
        for continuation in subscribers.withLock({ Array($0.values) }) { continuation.yield(event) }
    }

    public func run() async throws {
        logger.info("enricher.reading", metadata: ["source": "\(source)", "node": "\(configuration.node)"])
        defer { for continuation in subscribers.withLock({ Array($0.values) }) { continuation.finish() } }
        try await cancelWhenGracefulShutdown {
            var enrichment = Enrichment(processes: self.processes, pods: self.pods, configuration: self.configuration)
            var output = Output(configuration: self.configuration, logger: self.logger, factory: self.metricsFactory, publish: self.publish)
            var losses = LossReport(source: self.source.kind, logger: self.logger, factory: self.metricsFactory) { self.lost.add($0, ordering: .relaxed) }
            var unattributedReport = UnattributedReport(source: self.source.kind, logger: self.logger, factory: self.metricsFactory)
            defer { output.finish() }
            try await self.source.follow { batch in
                let now = ContinuousClock.now
                // Forks first: the records of a batch may come from children that already exited.
                for fork in self.forks?.drain() ?? [] { enrichment.learnFork(parent: fork.parent, child: fork.child, now: now) }
                if batch.lostRecords > 0 { losses.overrun(batch.lostRecords) }
                batch.forEachLine { line in
                    if let event = AuditLineParser.parse(line) {
                        enrichment.ingest(event, now: now)
                    } else if let notice = AuditLossNotice.parse(line) {
                        losses.report(notice)
                    }
                }
                enrichment.releaseDue(now: now)
                let missed = enrichment.takeUnattributed()
                if missed > 0 { self.unattributed.add(missed, ordering: .relaxed) }
                unattributedReport.record(missed, now: now)
                for event in enrichment.takeReady() { output.emit(event, now: now) }
                output.tick(now: now)
            }
        }
    }
}

/// Resolution and the backlog: records whose container no pod lists yet wait (bounded) until
/// the pod index changes or they time out.
struct Enrichment {
    private struct Held {
        var event: EnrichedAuditEvent
        var since: ContinuousClock.Instant
    }

    private var resolver: ProcessContainerResolver
    private let pods: NodePodIndex?
    private let configuration: LogEnricherConfiguration
    private var names = SyscallNameTable()
    private var backlog: [String: Deque<Held>] = [:]
    private var held = 0
    private var indexGeneration = -1
    private var ready: [EnrichedAuditEvent] = []

    init(processes: any ProcessTable, pods: NodePodIndex?, configuration: LogEnricherConfiguration) {
        self.resolver = ProcessContainerResolver(processes: processes)
        self.pods = pods
        self.configuration = configuration
    }

    private var unattributed = 0

    mutating func learnFork(parent: Int32, child: Int32, now: ContinuousClock.Instant) {
        resolver.learnFork(parent: parent, child: child, now: now)
    }

    mutating func takeUnattributed() -> Int {
        defer { unattributed = 0 }
        return unattributed
    }

    mutating func ingest(_ event: AuditEvent, now: ContinuousClock.Instant) {
        var syscallName: String?
        if case .seccomp(let number, let arch) = event.details { syscallName = names.name(of: number, arch: arch) }
        let containerID = resolver.containerID(of: event.pid, now: now)
        if containerID == nil, !resolver.isHostProcess(event.pid) { unattributed += 1 }
        var enriched = EnrichedAuditEvent(event: event, node: configuration.node, container: nil, containerID: containerID, syscallName: syscallName)
        guard let containerID, let pods else {
            ready.append(enriched)
            return
        }
        if backlog[containerID] == nil, let identity = pods.identity(of: containerID) {
            enriched.container = identity
            ready.append(enriched)
            return
        }
        hold(enriched, containerID: containerID, now: now)
    }

    /// Records that are due: held records whose pod is now known (after the index changed),
    /// and those that waited `backlogTimeout`.
    mutating func releaseDue(now: ContinuousClock.Instant) {
        guard held > 0, let pods else { return }
        let generation = pods.generation
        let indexChanged = generation != indexGeneration
        indexGeneration = generation
        for containerID in Array(backlog.keys) {
            if indexChanged, let identity = pods.identity(of: containerID) {
                for var item in backlog.removeValue(forKey: containerID) ?? [] {
                    item.event.container = identity
                    ready.append(item.event)
                    held -= 1
                }
                continue
            }
            while let first = backlog[containerID]?.first, now - first.since >= configuration.backlogTimeout {
                ready.append(first.event)
                backlog[containerID]?.removeFirst()
                held -= 1
            }
            if backlog[containerID]?.isEmpty == true { backlog[containerID] = nil }
        }
    }

    mutating func takeReady() -> [EnrichedAuditEvent] {
        defer { ready.removeAll(keepingCapacity: true) }
        return ready
    }

    /// Records waiting for their pod.
    var heldCount: Int { held }

    private mutating func hold(_ event: EnrichedAuditEvent, containerID: String, now: ContinuousClock.Instant) {
        var queue = backlog[containerID] ?? Deque()
        // Full: the oldest record goes out without its pod rather than being lost.
        if queue.count >= configuration.backlogPerContainer, let oldest = queue.popFirst() {
            ready.append(oldest.event)
            held -= 1
        } else if held >= configuration.backlogCapacity, let (victim, _) = backlog.first(where: { !$0.value.isEmpty && $0.key != containerID }),
                  let oldest = backlog[victim]?.popFirst() {
            ready.append(oldest.event)
            held -= 1
            if backlog[victim]?.isEmpty == true { backlog[victim] = nil }
        }
        queue.append(Held(event: event, since: now))
        backlog[containerID] = queue
        held += 1
    }
}

/// The enricher's output: de-duplicated `audit` log lines, exact counters, subscribers.
struct Output {
    private var deduplicator: AuditDeduplicator<EnrichedAuditEvent.Signature, EnrichedAuditEvent>
    private var counters: [[String]: Counter] = [:]
    private let logger: Logger
    private let factory: any MetricsFactory
    private let publish: (EnrichedAuditEvent) -> Void
    private var lastExpiry: ContinuousClock.Instant?
    private var overflow: [AuditDeduplicator<EnrichedAuditEvent.Signature, EnrichedAuditEvent>.Summary] = []
    private let writesOutput: Bool

    init(configuration: LogEnricherConfiguration, logger: Logger, factory: any MetricsFactory, publish: @escaping (EnrichedAuditEvent) -> Void) {
        self.writesOutput = configuration.writesAuditOutput
        self.deduplicator = AuditDeduplicator(window: configuration.dedupWindow, capacity: configuration.dedupCapacity)
        self.logger = logger
        self.factory = factory
        self.publish = publish
    }

    mutating func emit(_ event: EnrichedAuditEvent, now: ContinuousClock.Instant) {
        publish(event)
        guard writesOutput else { return }
        count(event)
        if deduplicator.admit(event, signature: event.signature, now: now, overflow: &overflow) == .log {
            log(event, repeated: nil)
        }
        for summary in overflow { log(summary.record, repeated: summary.suppressed) }
        overflow.removeAll(keepingCapacity: true)
    }

    /// Closes de-duplication windows (at most a few times a second).
    mutating func tick(now: ContinuousClock.Instant) {
        if let lastExpiry, now - lastExpiry < .milliseconds(250) { return }
        lastExpiry = now
        for summary in deduplicator.expire(now: now) { log(summary.record, repeated: summary.suppressed) }
    }

    mutating func finish() {
        for summary in deduplicator.closeAll() { log(summary.record, repeated: summary.suppressed) }
    }

    private mutating func count(_ event: EnrichedAuditEvent) {
        guard let (metric, labels) = event.auditCounter else { return }
        let key = [metric.name] + labels.map(\.1)
        if let counter = counters[key] {
            counter.increment()
            return
        }
        let counter = Counter(label: metric.name, dimensions: labels, factory: factory)
        // Label sets are bounded by the node's pods and executables; keep the handles of the
        // first ones only, later ones are created per record (still exact, a little slower).
        if counters.count < 16_384 { counters[key] = counter }
        counter.increment()
    }

    private func log(_ event: EnrichedAuditEvent, repeated: Int?) {
        var metadata: Logger.Metadata = [:]
        for (key, value) in event.logFields {
            switch value {
            case .text(let text): metadata[key] = .string(text)
            case .number(let number): metadata[key] = .stringConvertible(number)
            }
        }
        if let repeated { metadata["repeated"] = .stringConvertible(repeated) }
        logger.info("audit", metadata: metadata)
    }
}

/// Records of container processes that exited before their container was known: counted in
/// `audit_records_unattributed_total{source}` and logged at most once a minute with the count
/// since the last warning (they are reported without a pod, and a recording may lack them).
struct UnattributedReport {
    private let source: String
    private let logger: Logger
    private let counter: Counter
    private let interval: Duration
    private var pending = 0
    private var total = 0
    private var lastWarning: ContinuousClock.Instant?

    init(source: String, logger: Logger, factory: any MetricsFactory, interval: Duration = .seconds(60)) {
        self.source = source
        self.logger = logger
        self.interval = interval
        counter = Counter(label: OperatorMetric.auditRecordsUnattributed.name, dimensions: [(OperatorMetric.Label.source, source)], factory: factory)
    }

    mutating func record(_ count: Int, now: ContinuousClock.Instant) {
        if count > 0 {
            counter.increment(by: count)
            pending += count
            total += count
        }
        guard pending > 0, lastWarning.map({ now - $0 >= interval }) ?? true else { return }
        lastWarning = now
        logger.warning("enricher.records_unattributed", metadata: [
            "audit.source": "\(source)", "audit.unattributed": "\(pending)", "audit.unattributed_total": "\(total)",
            "detail": "records of processes that exited before their container could be told (no /proc entry, no parent seen): logged without a pod",
        ])
        pending = 0
    }
}

/// Records that never reached the enricher: counted in `audit_records_lost_total{source}` and
/// logged as a warning that says what to change, so that a quiet log never means "nothing
/// happened" when the kernel dropped records.
struct LossReport {
    private var account = AuditLossAccount()
    private let source: String
    private let logger: Logger
    private let counter: Counter
    private let onLost: (Int) -> Void

    init(source: String, logger: Logger, factory: any MetricsFactory, onLost: @escaping (Int) -> Void) {
        self.source = source
        self.logger = logger
        self.onLost = onLost
        counter = Counter(label: OperatorMetric.auditRecordsLost.name, dimensions: [(OperatorMetric.Label.source, source)], factory: factory)
    }

    mutating func report(_ notice: AuditLossNotice) {
        let count = account.account(notice)
        let cause: String
        let hint: String
        switch notice {
        case .printkSuppressed:
            cause = "the kernel's printk rate limit"
            hint = "without auditd the kernel prints at most kernel.printk_ratelimit_burst audit records per kernel.printk_ratelimit seconds: set sysctl kernel.printk_ratelimit=0, or run auditd and read its log"
        case .auditLost:
            cause = "the audit subsystem's backlog or rate limit"
            hint = "raise the audit backlog (auditctl -b) or lift its rate limit (auditctl -r 0)"
        case .limitExceeded(let what):
            logger.warning("enricher.audit_limit_exceeded", metadata: ["audit.source": "\(source)", "audit.notice": "\(what)"])
            return
        }
        record(count, cause: cause, hint: hint)
    }

    mutating func overrun(_ count: Int) {
        account.accountOverrun(count)
        record(count, cause: "the kernel log buffer overran before the enricher read it", hint: "the enricher fell behind a flood of kernel messages; give it more CPU")
    }

    private func record(_ count: Int, cause: String, hint: String) {
        guard count > 0 else { return }
        counter.increment(by: count)
        onLost(count)
        logger.warning("enricher.records_lost", metadata: [
            "audit.source": "\(source)", "audit.lost": "\(count)", "audit.lost_total": "\(account.total)", "audit.cause": "\(cause)",
            "hint": "\(hint)",
        ])
    }
}
