import Foundation
import KubeModels
import NIOCore

/// One event of a watch stream.
public enum WatchEvent<Object: Decodable & Sendable>: Sendable {
    case added(Object)
    case modified(Object)
    case deleted(Object)
    /// The server's progress marker: everything up to this resourceVersion has been sent.
    case bookmark(resourceVersion: String)
    /// The server ended the watch with a `Status`, e.g. `410 Expired` for a compacted resourceVersion.
    case error(Status)

    /// The object of an ADDED, MODIFIED or DELETED event.
    public var object: Object? {
        switch self {
        case .added(let object), .modified(let object), .deleted(let object): return object
        case .bookmark, .error: return nil
        }
    }
}

/// Decodes one line of a watch stream (`{"type":"ADDED","object":{...}}`) into a ``WatchEvent``.
/// The object is decoded in the same pass as the envelope, straight into the target type.
public struct WatchEventDecoder<Object: Decodable & Sendable>: Sendable {
    private let decoder = JSONDecoder()

    public init() {}

    public func decode(_ line: ByteBuffer) throws(KubeClientError) -> WatchEvent<Object> {
        try decode(Data(line.readableBytesView))
    }

    public func decode(_ line: Data) throws(KubeClientError) -> WatchEvent<Object> {
        do {
            return try decoder.decode(Envelope.self, from: line).event
        } catch let error as KubeClientError {
            throw error
        } catch {
            let preview = String(decoding: line.prefix(200), as: UTF8.self)
            throw KubeClientError(.decoding, "malformed watch event: \(preview)", cause: error)
        }
    }

    private struct BookmarkObject: Decodable {
        struct Metadata: Decodable { var resourceVersion: String? }
        var metadata: Metadata?
    }

    private struct Envelope: Decodable {
        var event: WatchEvent<Object>

        enum CodingKeys: String, CodingKey { case type, object }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let type = try container.decode(String.self, forKey: .type)
            switch type {
            case "ADDED": event = .added(try container.decode(Object.self, forKey: .object))
            case "MODIFIED": event = .modified(try container.decode(Object.self, forKey: .object))
            case "DELETED": event = .deleted(try container.decode(Object.self, forKey: .object))
            case "BOOKMARK":
                let object = try container.decode(BookmarkObject.self, forKey: .object)
                guard let version = object.metadata?.resourceVersion, !version.isEmpty else {
                    throw KubeClientError(.decoding, "BOOKMARK event without metadata.resourceVersion")
                }
                event = .bookmark(resourceVersion: version)
            case "ERROR": event = .error(try container.decode(Status.self, forKey: .object))
            default: throw KubeClientError(.decoding, "unknown watch event type \"\(type)\"")
            }
        }
    }
}
