import SPOAPI

/// The pod container a process belongs to, as the node's pod list names it.
public struct ContainerIdentity: Hashable, Sendable {
    public var namespace: String
    public var pod: String
    public var container: String
    /// The 64-hex-digit runtime id.
    public var containerID: String
    /// The recording this container's events feed: the pod's `io.containers.trace-logs/<container>`
    /// annotation, else `io.containers.trace-avcs/<container>` (reference §6.2).
    public var recordProfile: String?

    public init(namespace: String, pod: String, container: String, containerID: String, recordProfile: String? = nil) {
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self.containerID = containerID
        self.recordProfile = recordProfile
    }
}

/// An audit record with the node, the pod container it came from and the syscall's name:
/// what the enricher logs, counts and hands to the profile recorder.
public struct EnrichedAuditEvent: Hashable, Sendable {
    public var event: AuditEvent
    public var node: String
    /// The pod container, nil for host processes and for containers no pod on the node lists.
    public var container: ContainerIdentity?
    /// The runtime id when the process is in a container, even if no pod lists it.
    public var containerID: String?
    /// The seccomp syscall's name for the record's architecture, nil when unknown.
    public var syscallName: String?

    public init(event: AuditEvent, node: String, container: ContainerIdentity?, containerID: String?, syscallName: String?) {
        self.event = event
        self.node = node
        self.container = container
        self.containerID = containerID
        self.syscallName = syscallName
    }

    /// A log field value: text, or a number the log shows bare.
    public enum FieldValue: Hashable, Sendable, CustomStringConvertible {
        case text(String)
        case number(Int64)

        public var description: String {
            switch self {
            case .text(let text): text
            case .number(let number): String(number)
            }
        }
    }

    /// The fields of the `audit` log line, in the upstream order for the record's kind
    /// (reference §6.3), then `containerID` when the container has no pod on this node.
    public var logFields: [(key: String, value: FieldValue)] {
        var fields: [(key: String, value: FieldValue)] = [("timestamp", .text(event.timestamp)), ("type", .text(event.typeName))]
        let podFields: [(key: String, value: FieldValue)] = [
            ("node", .text(node)), ("namespace", .text(container?.namespace ?? "")),
            ("pod", .text(container?.pod ?? "")), ("container", .text(container?.container ?? "")),
        ]
        switch event.details {
        case .seccomp(let syscall, _):
            fields += podFields
            fields += [
                ("executable", .text(event.executable)), ("pid", .number(Int64(event.pid))),
                ("syscallID", .number(Int64(syscall))), ("syscallName", .text(syscallName ?? "")),
            ]
        case .selinux(let permissions, let scontext, let tcontext, let tclass):
            fields.append(("profile", .text(container?.recordProfile ?? "")))
            fields += podFields
            fields += [
                ("perm", .text(permissions.joined(separator: " "))), ("scontext", .text(scontext)),
                ("tcontext", .text(tcontext)), ("tclass", .text(tclass)),
            ]
        case .apparmor(let verdict, let operation, let profile, let name, let extra):
            fields += podFields
            fields += [
                ("executable", .text(event.executable)), ("pid", .number(Int64(event.pid))), ("apparmor", .text(verdict)),
                ("operation", .text(operation)), ("profile", .text(profile)), ("name", .text(name)),
            ]
            if let extra { fields.append(("extra", .text(extra))) }
        }
        if container == nil, let containerID { fields.append(("containerID", .text(containerID))) }
        return fields
    }

    /// What makes two records "the same event" for de-duplication: everything but the
    /// timestamp and the pid.
    public struct Signature: Hashable, Sendable {
        var kind: String
        var node: String
        var container: ContainerIdentity?
        var containerID: String?
        var executable: String
        var detail: [String]
    }

    public var signature: Signature {
        let detail: [String] = switch event.details {
        case .seccomp(let syscall, let arch): [String(syscall), arch.map { String($0) } ?? ""]
        case .selinux(let permissions, let scontext, let tcontext, let tclass): permissions + [scontext, tcontext, tclass]
        case .apparmor(let verdict, let operation, let profile, let name, let extra): [verdict, operation, profile, name, extra ?? ""]
        }
        return Signature(kind: event.typeName, node: node, container: container, containerID: containerID, executable: event.executable, detail: detail)
    }

    /// The `*_profile_audit_total` counter this record increments and its label values in the
    /// family's label order, nil for kinds that have none (AppArmor's counter is never
    /// incremented upstream either).
    public var auditCounter: (metric: OperatorMetric, labels: [(String, String)])? {
        typealias Label = OperatorMetric.Label
        let pod: [(String, String)] = [
            (Label.node, node), (Label.namespace, container?.namespace ?? ""), (Label.pod, container?.pod ?? ""),
            (Label.container, container?.container ?? ""), (Label.executable, event.executable),
        ]
        switch event.details {
        case .seccomp:
            return (.seccompProfileAudit, pod + [(Label.syscall, syscallName ?? "")])
        case .selinux(_, let scontext, let tcontext, _):
            return (.selinuxProfileAudit, pod + [(Label.scontext, scontext), (Label.tcontext, tcontext)])
        case .apparmor:
            return nil
        }
    }
}
