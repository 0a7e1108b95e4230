/// Container ids as the node and the API name them: the 64-hex-digit id in a process's
/// `/proc/<pid>/cgroup` and in a pod's `status.containerStatuses[].containerID`.
public enum ContainerIDs {
    /// The container of a process from the text of `/proc/<pid>/cgroup`: the last 64-hex-digit
    /// id on the first line that has one (reference §6.2). Covers containerd
    /// (`cri-containerd-<id>.scope`, `/kubepods/.../<id>`), CRI-O (`crio-<id>.scope`) and
    /// Docker (`docker-<id>.scope`, `/docker/<id>`), with the systemd and cgroupfs drivers on
    /// cgroup v1 and v2. Nil for host processes. A run of hex digits longer than 64 is not an id.
    public static func fromCgroup(_ text: String) -> String? {
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            if let id = lastID(in: line) { return id }
        }
        return nil
    }

    /// The id of a `containerID` status field (`containerd://<id>`, `cri-o://<id>`,
    /// `docker://<id>`), nil when empty (the container has not started).
    public static func fromStatus(_ value: String) -> String? {
        let id = value.firstRange(of: "://").map { String(value[$0.upperBound...]) } ?? value
        return id.isEmpty ? nil : id.lowercased()
    }

    private static func lastID(in line: Substring.UTF8View.SubSequence) -> String? {
        var found: Substring.UTF8View.SubSequence?
        var runStart = line.startIndex
        var runLength = 0
        var index = line.startIndex
        while true {
            let atEnd = index == line.endIndex
            if !atEnd, isLowerHex(line[index]) {
                if runLength == 0 { runStart = index }
                runLength += 1
            } else {
                if runLength == 64 { found = line[runStart..<index] }
                runLength = 0
            }
            if atEnd { break }
            index = line.index(after: index)
        }
        return found.map { String(decoding: $0, as: UTF8.self) }
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (byte &- UInt8(ascii: "0")) < 10 || (byte &- UInt8(ascii: "a")) < 6
    }
}
