import Foundation
import SPOAPI
import SeccompKit

#if canImport(Glibc)
import Glibc
#endif

/// File operations the daemon needs, behind a protocol so tests can inject failures.
/// Paths are absolute.
public protocol ProfileFileSystem: Sendable {
    /// The file's bytes, or `nil` when it does not exist.
    func read(_ path: String) throws -> [UInt8]?
    /// Creates `directory` and missing parents with `mode`.
    func createDirectory(_ directory: String, mode: mode_t) throws
    /// Replaces `path` so that readers see the old or the new bytes, never a mix: a temporary
    /// file in the same directory, written, synced, then renamed over `path`.
    func replace(_ path: String, with bytes: [UInt8], mode: mode_t) throws
    /// Removes the file; `false` when it did not exist.
    func remove(_ path: String) throws -> Bool
    /// Names of the entries of `directory` (empty when it does not exist).
    func entries(_ directory: String) throws -> [String]
}

/// A file-system failure with the path and the system's reason.
public struct FileSystemError: Error, Hashable, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32

    public init(_ operation: String, _ path: String, code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
}

/// The real file system, with POSIX calls.
public struct LocalFileSystem: ProfileFileSystem {
    public init() {}

    public func read(_ path: String) throws -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            if errno == ENOENT { return nil }
            throw FileSystemError("open", path)
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileSystemError("read", path)
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: buffer[0..<count])
        }
    }

    public func createDirectory(_ directory: String, mode: mode_t) throws {
        var path = ""
        for component in directory.split(separator: "/") {
            path += "/" + component
            if mkdir(path, mode) == 0 {
                // The mode exactly, whatever the umask (libsemanage's commits change it for
                // the whole process while they run).
                guard chmod(path, mode) == 0 else { throw FileSystemError("chmod", path) }
            } else if errno != EEXIST {
                throw FileSystemError("mkdir", path)
            }
        }
    }

    public func replace(_ path: String, with bytes: [UInt8], mode: mode_t) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        var template = Array("\(directory)/.\(name).tmp-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { throw FileSystemError("create temporary file in", directory) }
        let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var committed = false
        defer {
            if !committed { unlink(temporary) }
        }
        do {
            defer { close(descriptor) }
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw FileSystemError("write", temporary)
                }
                offset += written
            }
            guard fchmod(descriptor, mode) == 0 else { throw FileSystemError("chmod", temporary) }
            guard fsync(descriptor) == 0 else { throw FileSystemError("fsync", temporary) }
        }
        guard rename(temporary, path) == 0 else { throw FileSystemError("rename to", path) }
        committed = true
        // Make the rename itself durable.
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    public func remove(_ path: String) throws -> Bool {
        if unlink(path) == 0 { return true }
        if errno == ENOENT { return false }
        throw FileSystemError("remove", path)
    }

    public func entries(_ directory: String) throws -> [String] {
        guard let handle = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw FileSystemError("list", directory)
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}

/// The operator's seccomp directory on a node, `<kubelet dir>/seccomp/operator`: one
/// directory per namespace (mode 0744) holding `<name>.json` files (mode 0644). Paths are
/// built only from valid Kubernetes names, so nothing is ever written outside it.
public struct SeccompProfileDirectory: Sendable {
    public enum Change: Sendable, Hashable {
        case written
        case unchanged
    }

    public let root: String
    private let fileSystem: any ProfileFileSystem

    public init(kubeletDirectory: String, fileSystem: any ProfileFileSystem = LocalFileSystem()) {
        self.root = (kubeletDirectory as NSString).appendingPathComponent("seccomp/operator")
        self.fileSystem = fileSystem
    }

    /// The absolute path of a profile, or an error when the names could leave the directory.
    public func path(namespace: String, name: String) throws(FileSystemError) -> String {
        guard KubeNames.isLabel(namespace), KubeNames.isSubdomain(name) else {
            throw FileSystemError("refusing unsafe profile path", "\(namespace)/\(name)", code: EINVAL)
        }
        return "\(root)/\(ProfileFile.localhostProfile(namespace: namespace, name: name).dropFirst("operator/".count))"
    }

    /// Writes the profile file unless it already holds exactly these bytes.
    @discardableResult
    public func install(_ bytes: [UInt8], namespace: String, name: String) throws -> Change {
        let path = try path(namespace: namespace, name: name)
        if try fileSystem.read(path) == bytes { return .unchanged }
        try fileSystem.createDirectory("\(root)/\(namespace)", mode: 0o744)
        try fileSystem.replace(path, with: bytes, mode: 0o644)
        return .written
    }

    /// Removes the profile file; `false` when there was none.
    @discardableResult
    public func remove(namespace: String, name: String) throws -> Bool {
        try fileSystem.remove(try path(namespace: namespace, name: name))
    }

    /// Every installed profile as (namespace, object name), for reconciling the directory
    /// against the API at startup. Entries that are not operator profiles are ignored.
    public func installed() throws -> [(namespace: String, name: String)] {
        var result: [(namespace: String, name: String)] = []
        for namespace in try fileSystem.entries(root) where KubeNames.isLabel(namespace) {
            for file in try fileSystem.entries("\(root)/\(namespace)") where file.hasSuffix(".json") && !file.hasPrefix(".") {
                result.append((namespace, String(file.dropLast(".json".count))))
            }
        }
        return result
    }
}

extension SeccompProfileDirectory {
    /// Prepares the directory for a daemon that runs as `uid`/`gid` (the DaemonSet's
    /// `non-root-enabler` init container, run as root): creates it (mode 0744) when missing and
    /// gives it and every namespace directory and profile file in it to that user. Symbolic
    /// links are neither followed nor changed, so nothing outside the directory is touched.
    /// Returns how many entries changed owner.
    @discardableResult
    public func handOver(toUser uid: uid_t, group gid: gid_t) throws -> Int {
        var changed = 0
        func own(_ path: String) throws {
            var info = stat()
            guard lstat(path, &info) == 0 else { throw FileSystemError("stat", path) }
            guard (info.st_mode & S_IFMT) != S_IFLNK else { return }
            if info.st_uid != uid || info.st_gid != gid {
                guard lchown(path, uid, gid) == 0 else { throw FileSystemError("chown", path) }
                changed += 1
            }
        }
        try LocalFileSystem().createDirectory(root, mode: 0o744)
        try own(root)
        let fileSystem = LocalFileSystem()
        for namespace in try fileSystem.entries(root) {
            let directory = "\(root)/\(namespace)"
            try own(directory)
            var info = stat()
            if lstat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
                for file in try fileSystem.entries(directory) { try own("\(directory)/\(file)") }
            }
        }
        return changed
    }
}
