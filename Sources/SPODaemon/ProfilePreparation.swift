import KubeModels
import SPOAPI
import SeccompCompiler
import SeccompKit

/// Turns a SeccompProfile into the spec to install, or the reason it cannot be installed:
/// validation (with libseccomp's syscall names), base-profile resolution, the spod's
/// `allowedSyscalls` guard, and compilation with libseccomp. Shared by the API-driven daemon
/// and standalone mode.
public struct ProfilePreparation {
    /// A reason (event reason and metric label, as upstream names them) and a message.
    public struct Problem: Error, Hashable, Sendable, CustomStringConvertible {
        public typealias Reason = OperatorMetric.SeccompErrorReason
        public var reason: Reason
        public var message: String

        public init(reason: Reason, message: String) {
            self.reason = reason
            self.message = message
        }

        public var description: String { "\(reason.rawValue): \(message)" }
    }

    /// How many validation problems a message names.
    static let reportedProblems = 10

    /// Finds a base profile by name (same namespace first, then built-ins).
    public var lookup: (String) -> SeccompProfile.Spec?
    /// The spod's spec, for the allow-list guard.
    public var spod: SecurityProfilesOperatorDaemon.Spec?
    /// The node this runs on, when its kernel cannot enforce seccomp filters.
    public var unsupportedOnNode: String?

    public init(lookup: @escaping (String) -> SeccompProfile.Spec?, spod: SecurityProfilesOperatorDaemon.Spec?, unsupportedOnNode: String? = nil) {
        self.lookup = lookup
        self.spod = spod
        self.unsupportedOnNode = unsupportedOnNode
    }

    /// A `Result` rather than typed throws: Swift 6.3 crashes compiling a typed `catch` in an
    /// async caller.
    public func prepare(_ profile: SeccompProfile) -> Result<SeccompProfile.Spec, Problem> {
        Result { () throws(Problem) -> SeccompProfile.Spec in try prepareThrowing(profile) }
    }

    private func prepareThrowing(_ profile: SeccompProfile) throws(Problem) -> SeccompProfile.Spec {
        if let node = unsupportedOnNode {
            throw Problem(reason: .notSupportedOnNode, message: "\(node): node does not support seccomp")
        }
        guard let spec = profile.spec else { throw Problem(reason: .invalidProfile, message: "spec: Required value") }
        let problems = profile.validate(ValidationContext(syscallNames: LibseccompSyscallNames()))
        if !problems.isEmpty {
            // Bounded: the message goes into an event and a node-status annotation.
            var message = problems.prefix(Self.reportedProblems).map(\.description).joined(separator: "; ")
            if problems.count > Self.reportedProblems { message += "; and \(problems.count - Self.reportedProblems) more problems" }
            throw Problem(reason: .invalidProfile, message: message)
        }
        let merged: SeccompProfile.Spec
        do {
            merged = try BaseProfiles.resolve(spec, name: profile.metadata.name ?? "", lookup: lookup)
        } catch {
            let reason: Problem.Reason = if case .unsupportedReference = error { .cannotPull } else { .invalidProfile }
            throw Problem(reason: reason, message: error.description)
        }
        if let allowList = AllowList(spod: spod), let violation = allowList.violation(of: merged) {
            throw Problem(reason: .notAllowed, message: violation)
        }
        do {
            _ = try SeccompFilter.compile(merged)
        } catch {
            throw Problem(reason: .invalidProfile, message: "the merged profile does not compile: \(error)")
        }
        return merged
    }
}
