import Foundation
import KubeModels
import Logging
import SPOAPI
import SeccompCompiler
import SeccompKit
import ServiceLifecycle

/// The daemon without a cluster: SeccompProfiles (and optionally a spod) are read from YAML or
/// JSON files in a directory instead of the API server, and installed with the same
/// preparation (validation, bases, allow-list, libseccomp) and the same profile directory.
/// For nodes managed by configuration tools, and for trying the project without a cluster.
/// Outcomes go to the log; the directory is re-read when its files change.
public struct StandaloneSeccompDaemon: Service {
    /// What happened to one profile in a pass.
    public enum Outcome: Hashable, Sendable {
        case installed(namespace: String, name: String, changed: Bool)
        case disabled(namespace: String, name: String)
        case rejected(namespace: String, name: String, problem: ProfilePreparation.Problem)
        case removed(namespace: String, name: String)
        /// A file or document that is not a valid object.
        case unreadable(file: String, message: String)
    }

    public let manifests: URL
    public let directory: SeccompProfileDirectory
    let builtInProfiles: [String: SeccompProfile.Spec]
    let seccompSupported: Bool
    let pollInterval: Duration
    let logger: Logger

    public init(
        manifests: URL, directory: SeccompProfileDirectory, builtInProfiles: [String: SeccompProfile.Spec] = [:],
        seccompSupported: Bool = SeccompSupport.isEnabled,
        pollInterval: Duration = .seconds(1), logger: Logger = Logger(label: "spod.standalone")
    ) {
        self.manifests = manifests
        self.directory = directory
        self.builtInProfiles = builtInProfiles
        self.seccompSupported = seccompSupported
        self.pollInterval = pollInterval
        self.logger = logger
    }

    /// Applies the directory's content whenever it changes, until shutdown.
    public func run() async throws {
        var applied: [String: Data]?
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let snapshot = readManifests()
            if snapshot != applied {
                _ = sync(snapshot)
                applied = snapshot
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: pollInterval) }
            } catch {
                return
            }
        }
    }

    /// One pass: installs every valid profile, removes files of profiles no longer listed.
    @discardableResult
    public func syncOnce() -> [Outcome] {
        sync(readManifests())
    }

    /// The manifest files' contents by path.
    func readManifests() -> [String: Data] {
        let files = (FileManager.default.enumerator(at: manifests, includingPropertiesForKeys: nil)?.allObjects ?? [])
            .compactMap { $0 as? URL }
            .filter { ["yaml", "yml", "json"].contains($0.pathExtension) }
        var contents: [String: Data] = [:]
        for file in files { contents[file.path] = FileManager.default.contents(atPath: file.path) }
        return contents
    }

    func sync(_ snapshot: [String: Data]) -> [Outcome] {
        var outcomes: [Outcome] = []
        var profiles: [SeccompProfile] = []
        var spod: SecurityProfilesOperatorDaemon?
        for (path, data) in snapshot.sorted(by: { $0.key < $1.key }) {
            let documents: [Any]
            do {
                documents = try YAMLStream.documents(String(decoding: data, as: UTF8.self))
            } catch {
                outcomes.append(.unreadable(file: path, message: "\(error)"))
                continue
            }
            // One bad document does not hide the others of the same file.
            for (index, document) in documents.enumerated() {
                guard let object = document as? [String: Any] else { continue }
                do {
                    let json = try JSONSerialization.data(withJSONObject: object)
                    switch object["kind"] as? String {
                    case SeccompProfile.kind:
                        var profile = try APIDecoder.decode(SeccompProfile.self, from: json)
                        if profile.metadata.namespace == nil { profile.metadata.namespace = "default" }
                        profiles.append(profile)
                    case SecurityProfilesOperatorDaemon.kind:
                        spod = try APIDecoder.decode(SecurityProfilesOperatorDaemon.self, from: json)
                    default:
                        continue
                    }
                } catch {
                    outcomes.append(.unreadable(file: documents.count > 1 ? "\(path) (document \(index + 1))" : path, message: "\(error)"))
                }
            }
        }

        var wanted = Set<String>()
        for profile in profiles {
            let namespace = profile.metadata.namespace ?? "default", name = profile.metadata.name ?? ""
            wanted.insert("\(namespace)/\(name)")
            if profile.spec?.disabled == true {
                _ = try? directory.remove(namespace: namespace, name: name)
                outcomes.append(.disabled(namespace: namespace, name: name))
                continue
            }
            let preparation = ProfilePreparation(
                lookup: { base in
                    profiles.first { $0.metadata.namespace == namespace && $0.metadata.name == base }?.spec ?? builtInProfiles[base]
                },
                spod: spod?.spec,
                unsupportedOnNode: seccompSupported ? nil : "this node")
            switch preparation.prepare(profile) {
            case .success(let spec):
                do {
                    let change = try directory.install(ProfileFile.render(spec), namespace: namespace, name: name)
                    outcomes.append(.installed(namespace: namespace, name: name, changed: change == .written))
                } catch {
                    outcomes.append(.rejected(namespace: namespace, name: name, problem: .init(reason: .cannotSave, message: "\(error)")))
                }
            case .failure(let problem):
                _ = try? directory.remove(namespace: namespace, name: name)
                outcomes.append(.rejected(namespace: namespace, name: name, problem: problem))
            }
        }
        for (namespace, name) in (try? directory.installed()) ?? [] where !wanted.contains("\(namespace)/\(name)") {
            if (try? directory.remove(namespace: namespace, name: name)) == true {
                outcomes.append(.removed(namespace: namespace, name: name))
            }
        }
        for outcome in outcomes { log(outcome) }
        return outcomes
    }

    private func log(_ outcome: Outcome) {
        switch outcome {
        case .installed(let namespace, let name, let changed):
            logger.info(changed ? "seccomp.profile.saved" : "seccomp.profile.unchanged", metadata: [
                "k8s.namespace": "\(namespace)", "k8s.name": "\(name)",
                "path": "\(directory.root)/\(namespace)/\(name).json",
            ])
        case .disabled(let namespace, let name):
            logger.info("seccomp.profile.disabled", metadata: ["k8s.namespace": "\(namespace)", "k8s.name": "\(name)"])
        case .rejected(let namespace, let name, let problem):
            logger.warning("seccomp.profile.rejected", metadata: [
                "k8s.namespace": "\(namespace)", "k8s.name": "\(name)", "reason": "\(problem.reason.rawValue)", "error": "\(problem.message)",
            ])
        case .removed(let namespace, let name):
            logger.info("seccomp.profile.removed", metadata: ["k8s.namespace": "\(namespace)", "k8s.name": "\(name)"])
        case .unreadable(let file, let message):
            logger.error("manifest.unreadable", metadata: ["file": "\(file)", "error": "\(message)"])
        }
    }
}
