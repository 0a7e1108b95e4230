import Foundation

/// One copy of Debian's selinux-policy-default store for the whole test process: libsemanage
/// works out its store paths once per process, so every test that commits to a real store
/// shares this root (and names its modules apart). Removed when the process exits.
public enum SelinuxTestStore {
    public static let systemStore = "/var/lib/selinux/default"

    /// The root holding `var/lib/selinux/default`; nil when the system store is not installed.
    public static let root: String? = {
        guard FileManager.default.fileExists(atPath: systemStore) else { return nil }
        let root = path(for: getpid())
        try? FileManager.default.removeItem(atPath: root)
        do {
            try FileManager.default.createDirectory(atPath: "\(root)/var/lib/selinux", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: systemStore, toPath: "\(root)/var/lib/selinux/default")
        } catch {
            return nil
        }
        atexit { try? FileManager.default.removeItem(atPath: SelinuxTestStore.path(for: getpid())) }
        return root
    }()

    static func path(for pid: pid_t) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("spo-selinux-store-\(pid)").path
    }

    /// A `container` base block like udica's templates provide on Fedora (Debian has none).
    /// Tests install it (identically) and never remove it.
    public static let containerStub = """
        (block container
            (type process)
            (roletype system_r process)
            (typeattributeset domain (process))
        )

        """
}
