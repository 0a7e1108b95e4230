import Foundation
import SPODaemon
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct ProfileDirectoryTests {
    /// A fresh kubelet directory under the temporary directory.
    func kubeletDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kubelet-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    func owner(_ path: String) -> (uid_t, gid_t) {
        var info = stat()
        _ = lstat(path, &info)
        return (info.st_uid, info.st_gid)
    }

    @Test(.enabled(if: getuid() == 0, "changing owners needs root"))
    func handOverGivesTheDirectoryToTheDaemonUserAndLeavesLinksAlone() throws {
        let kubelet = try kubeletDirectory()
        defer { try? FileManager.default.removeItem(atPath: kubelet) }
        let outside = "\(kubelet)/outside.json"
        #expect(FileManager.default.createFile(atPath: outside, contents: Data("{}".utf8)))
        let directory = SeccompProfileDirectory(kubeletDirectory: kubelet)
        try directory.install(Array("{}".utf8), namespace: "default", name: "p")
        try FileManager.default.createSymbolicLink(atPath: "\(directory.root)/default/link.json", withDestinationPath: outside)

        #expect(try directory.handOver(toUser: 65535, group: 65535) == 3, "root, the namespace directory and the file")
        for path in [directory.root, "\(directory.root)/default", "\(directory.root)/default/p.json"] {
            #expect(owner(path) == (65535, 65535), "\(path)")
        }
        #expect(owner(outside) == (0, 0), "a link's target outside the directory is never touched")
        #expect(try directory.handOver(toUser: 65535, group: 65535) == 0, "idempotent")
        #expect(try mode(directory.root) == 0o744)
    }

    @Test func installWritesOnceWithTheOperatorModes() throws {
        let kubelet = try kubeletDirectory()
        defer { try? FileManager.default.removeItem(atPath: kubelet) }
        let directory = SeccompProfileDirectory(kubeletDirectory: kubelet)
        let body = Array(#"{"defaultAction":"SCMP_ACT_ERRNO"}"#.utf8)
        #expect(try directory.install(body, namespace: "default", name: "hello") == .written)
        let file = "\(kubelet)/seccomp/operator/default/hello.json"
        #expect(FileManager.default.contents(atPath: file) == Data(body))
        #expect(try mode(file) == 0o644)
        #expect(try mode("\(kubelet)/seccomp/operator/default") == 0o744)
        #expect(try directory.install(body, namespace: "default", name: "hello") == .unchanged, "same bytes: no rewrite")
        #expect(try directory.install(Array(#"{"defaultAction":"SCMP_ACT_LOG"}"#.utf8), namespace: "default", name: "hello") == .written)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(kubelet)/seccomp/operator/default") == ["hello.json"], "no temporary files left")
    }

    @Test(arguments: [("..", "x"), ("default", "../escape"), ("default", "a/b"), ("Default", "x"), ("default", "..")])
    func unsafeNamesNeverTouchTheDisk(namespace: String, name: String) throws {
        let kubelet = try kubeletDirectory()
        defer { try? FileManager.default.removeItem(atPath: kubelet) }
        let directory = SeccompProfileDirectory(kubeletDirectory: kubelet)
        #expect(throws: FileSystemError.self) { try directory.install([0x7B, 0x7D], namespace: namespace, name: name) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: kubelet).isEmpty)
    }

    @Test func aFailedReplaceLeavesTheOldFileAndNoDebris() throws {
        let kubelet = try kubeletDirectory()
        defer { try? FileManager.default.removeItem(atPath: kubelet) }
        let directory = SeccompProfileDirectory(kubeletDirectory: kubelet)
        // A directory where the file should be makes the final rename fail.
        try FileManager.default.createDirectory(atPath: "\(kubelet)/seccomp/operator/default/blocked.json", withIntermediateDirectories: true)
        #expect(throws: FileSystemError.self) { try directory.install(Array("{}".utf8), namespace: "default", name: "blocked") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(kubelet)/seccomp/operator/default") == ["blocked.json"])
    }

    @Test func installedListsOnlyOperatorProfilesAndRemoveIsIdempotent() throws {
        let kubelet = try kubeletDirectory()
        defer { try? FileManager.default.removeItem(atPath: kubelet) }
        let directory = SeccompProfileDirectory(kubeletDirectory: kubelet)
        try directory.install(Array("{}".utf8), namespace: "a", name: "one")
        try directory.install(Array("{}".utf8), namespace: "b", name: "two")
        _ = FileManager.default.createFile(atPath: "\(kubelet)/seccomp/operator/a/notes.txt", contents: Data())
        _ = FileManager.default.createFile(atPath: "\(kubelet)/seccomp/operator/a/.one.json.tmp-abc", contents: Data())
        try FileManager.default.createDirectory(atPath: "\(kubelet)/seccomp/operator/Not_A_Namespace", withIntermediateDirectories: true)
        #expect(try directory.installed().map { "\($0.namespace)/\($0.name)" } == ["a/one", "b/two"])
        #expect(try directory.remove(namespace: "a", name: "one"))
        #expect(try !directory.remove(namespace: "a", name: "one"))
        #expect(try directory.installed().map { "\($0.namespace)/\($0.name)" } == ["b/two"])
    }
}
