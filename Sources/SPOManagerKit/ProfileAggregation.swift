import KubeModels
import SPOAPI

/// The status part every profile kind shares: the aggregated state and the conditions.
public protocol AggregatedProfileStatus: Sendable, Equatable {
    init()
    var status: ProfileState? { get set }
    var conditions: [Condition]? { get set }
}

/// A profile status that also lists the pods using the profile.
public protocol WorkloadProfileStatus: AggregatedProfileStatus {
    var activeWorkloads: [String]? { get set }
}

/// A profile kind whose installation the daemons report per node and the manager aggregates
/// into `status.status` and the `Ready` condition (reference §2.1-§2.2, §2.7).
public protocol NodeInstalledProfile: KubeResource, Equatable {
    associatedtype ProfileStatus: AggregatedProfileStatus
    var status: ProfileStatus? { get set }
    /// Sets the kind's own status field (`localhostProfile`, `usage`) from the profile's name.
    mutating func setKindStatusFields()
}

/// A profile kind whose pods the manager tracks in `status.activeWorkloads` and with the
/// `in-use-by-active-pods` finalizer (reference §2.6).
public protocol WorkloadTrackedProfile: NodeInstalledProfile where ProfileStatus: WorkloadProfileStatus {}

extension NodeInstalledProfile {
    public var aggregatedState: ProfileState? {
        get { status?.status }
        set { status = status ?? ProfileStatus(); status?.status = newValue }
    }

    public var conditions: [Condition]? {
        get { status?.conditions }
        set { status = status ?? ProfileStatus(); status?.conditions = newValue }
    }
}

extension WorkloadTrackedProfile {
    public var activeWorkloads: [String]? {
        get { status?.activeWorkloads }
        set { status = status ?? ProfileStatus(); status?.activeWorkloads = newValue }
    }
}

extension SeccompProfile.Status: WorkloadProfileStatus {
    public init() { self.init(status: nil) }
}

extension SelinuxProfileStatus: WorkloadProfileStatus {
    public init() { self.init(status: nil) }
}

extension ProfileStatusBase: AggregatedProfileStatus {
    public init() { self.init(status: nil) }
}

extension SeccompProfile: WorkloadTrackedProfile {
    public mutating func setKindStatusFields() {
        status = status ?? .init()
        status?.localhostProfile = Self.localhostProfile(namespace: metadata.namespace ?? "", name: metadata.name ?? "")
    }
}

extension SelinuxProfile: WorkloadTrackedProfile {
    public mutating func setKindStatusFields() {
        status = status ?? .init()
        status?.usage = "\(metadata.name ?? "")_\(metadata.namespace ?? "").process"
    }
}

extension RawSelinuxProfile: NodeInstalledProfile {
    public mutating func setKindStatusFields() {
        status = status ?? .init()
        status?.usage = "\(metadata.name ?? "")_\(metadata.namespace ?? "").process"
    }
}

extension AppArmorProfile: NodeInstalledProfile {
    public mutating func setKindStatusFields() {}
}

/// What the manager concludes from a profile's node statuses.
public struct AggregatedStatus: Hashable, Sendable {
    public var state: ProfileState
    /// The first error a node reported (the daemons put it on their node status), for the
    /// Ready condition's message.
    public var message: String

    public init(state: ProfileState, message: String = "") {
        self.state = state
        self.message = message
    }
}

/// The aggregation rules (reference §2.1-§2.2).
public enum ProfileAggregation {
    /// Lowest wins: Error < Terminating < Partial < Disabled < Pending < InProgress < Installed.
    public static func rank(_ state: ProfileState) -> Int {
        switch state {
        case .error: return 0
        case .terminating: return 1
        case .partial: return 2
        case .disabled: return 3
        case .pending: return 4
        case .inProgress: return 5
        case .installed: return 6
        default: return 4
        }
    }

    /// The aggregate of the nodes' statuses. When fewer nodes reported than the daemon runs on
    /// (`expectedNodes`), the missing ones count as `Pending`: a profile is `Installed` only
    /// once every node has installed it, while an `Error` shows at once.
    public static func aggregate(_ statuses: [SecurityProfileNodeStatus], expectedNodes: Int) -> AggregatedStatus {
        var state = ProfileState.installed
        var message = ""
        for status in statuses.sorted(by: { ($0.nodeName ?? "") < ($1.nodeName ?? "") }) {
            let nodeState = status.status ?? .pending
            if rank(nodeState) < rank(state) { state = nodeState }
            if nodeState == .error, message.isEmpty, let text = status.metadata.annotations?[SPOMetadata.statusMessageAnnotation], !text.isEmpty {
                message = "\(status.nodeName ?? "?"): \(text)"
            }
        }
        if statuses.count < expectedNodes, rank(.pending) < rank(state) { state = .pending }
        return AggregatedStatus(state: state, message: state == .error ? message : "")
    }

    /// The `Ready` condition for an aggregate (§2.2).
    public static func readyCondition(for aggregate: AggregatedStatus, now: String) -> Condition {
        let (status, reason): (String, String)
        switch aggregate.state {
        case .installed: (status, reason) = ("True", "Available")
        case .pending, .inProgress: (status, reason) = ("False", "Creating")
        case .terminating: (status, reason) = ("False", "Deleting")
        default: (status, reason) = ("False", "Unavailable")
        }
        return Condition(type: "Ready", status: status, lastTransitionTime: now, reason: reason, message: aggregate.message)
    }

    /// `conditions` with `condition` replacing the one of its type; the transition time is kept
    /// when nothing but the time would change.
    public static func setting(_ condition: Condition, in conditions: [Condition]?) -> [Condition] {
        var result = conditions ?? []
        if let index = result.firstIndex(where: { $0.type == condition.type }) {
            let old = result[index]
            if old.status == condition.status, old.reason == condition.reason, old.message == condition.message {
                return result
            }
            result[index] = condition
        } else {
            result.append(condition)
        }
        return result
    }

    /// The profile with the aggregate applied: `status.status`, `Ready`, and the kind's field.
    public static func applying<P: NodeInstalledProfile>(_ aggregate: AggregatedStatus, to profile: P, now: String) -> P {
        var updated = profile
        updated.aggregatedState = aggregate.state
        updated.conditions = setting(readyCondition(for: aggregate, now: now), in: profile.conditions)
        updated.setKindStatusFields()
        return updated
    }
}
