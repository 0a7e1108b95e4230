import Foundation
import KubeModels
import RecordingKit
import SPOAPI

/// What the node's recorder knows about each pod it records, kept on the node's disk so that a
/// daemon restart loses nothing recorded before it (reference §5.3, beyond upstream).
public struct RecorderState: Codable, Hashable, Sendable {
    /// What a recording asked for when the recorder first saw one of its pods: the recorder
    /// still knows it when the recording is deleted before the pod.
    public struct Recording: Codable, Hashable, Sendable {
        public var kind: ProfileKind?
        public var mergeStrategy: MergeStrategy?
        public var disableProfileAfterRecording: Bool
    }

    /// One pod being recorded.
    public struct Pod: Codable, Hashable, Sendable {
        public var recorded: RecordedPod
        /// By recording name.
        public var recordings: [String: Recording]
        /// What was recorded up to the last save, by the container's recording key.
        public var saved: [String: RecordedActivity] = [:]
        /// The sources' lost-record counts when recording started, by recording key.
        public var lostAtStart: [String: Int] = [:]
        /// The sources' unattributed-record counts when recording started, by recording key
        /// (nil in a state saved before they were kept).
        public var unattributedAtStart: [String: Int]?
        /// The last snapshot request handled, by recording name.
        public var snapshots: [String: String] = [:]
        /// Problems already reported as events, so that they are reported once.
        public var reported: Set<String> = []
    }

    /// By `namespace/name`.
    public var pods: [String: Pod] = [:]

    public init() {}
}

/// Where the recorder's state is kept: written whole to a temporary file and renamed, so a
/// crash leaves the previous state or the new one.
public protocol RecorderStateStore: Sendable {
    func load() throws -> RecorderState?
    func save(_ state: RecorderState) throws
}

/// `<directory>/recorder-state.json` (the DaemonSet mounts the host's
/// `/tmp/security-profiles-operator-recordings` there).
public struct FileRecorderStateStore: RecorderStateStore {
    public let directory: URL

    public init(directory: URL) {
        self.directory = directory
    }

    var file: URL { directory.appendingPathComponent("recorder-state.json") }

    public func load() throws -> RecorderState? {
        guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
        return try JSONDecoder().decode(RecorderState.self, from: data)
    }

    public func save(_ state: RecorderState) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let temporary = directory.appendingPathComponent(".recorder-state.json.\(UUID().uuidString)")
        try encoder.encode(state).write(to: temporary)
        guard rename(temporary.path, file.path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(at: temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "rename to \(file.path): \(String(cString: strerror(code)))"])
        }
    }
}
