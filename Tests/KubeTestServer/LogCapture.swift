import Logging
import Synchronization

/// Collects log records (message and metadata, as text) for assertions.
public final class LogCapture: Sendable {
    public struct Record: Sendable {
        public var message: String
        public var metadata: [String: String]
    }

    private let stored = Mutex<[Record]>([])

    public init() {}

    public var records: [Record] { stored.withLock { $0 } }

    /// A logger at `trace` whose records land here.
    public var logger: Logger {
        Logger(label: "test.capture") { _ in Handler(capture: self) }
    }

    fileprivate func append(_ record: Record) {
        stored.withLock { $0.append(record) }
    }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            capture.append(Record(message: event.message.description, metadata: merged.mapValues(\.description)))
        }
    }
}
