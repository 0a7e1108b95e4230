import Foundation
import KubeModels
import Logging

/// Writes each log record as one JSON object per line on standard error
/// (`ts`, `level`, `logger`, `msg`, then the metadata keys), the format log pipelines expect.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Integers logged as `.stringConvertible` (counts, pids, syscall numbers) stay JSON numbers;
    /// everything else is its text.
    private static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        if case .stringConvertible(let convertible) = value {
            switch convertible {
            case let number as Int: return .int(Int64(number))
            case let number as Int64: return .int(number)
            case let number as Int32: return .int(Int64(number))
            default: break
            }
        }
        return .string(value.description)
    }

    func log(event: LogEvent) {
        var record: [String: JSONValue] = [:]
        for (key, value) in metadata { record[key] = Self.json(value) }
        for (key, value) in metadataProvider?.get() ?? [:] { record[key] = Self.json(value) }
        for (key, value) in event.metadata ?? [:] { record[key] = Self.json(value) }
        record["ts"] = .string(Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        record["level"] = .string(event.level.rawValue)
        record["logger"] = .string(label)
        record["msg"] = .string(event.message.description)
        if event.level >= .warning { record["caller"] = .string("\(event.file.split(separator: "/").last ?? ""):\(event.line)") }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var line = try? encoder.encode(record) else { return }
        line.append(UInt8(ascii: "\n"))
        // One write per record keeps lines whole when several threads log at once.
        line.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }
}
