import KubeModels
import SPOAPI

// The core/v1 pod-spec subset the manager renders. Encoded to JSON, it becomes the DaemonSet's
// template; fields left `nil` are omitted, as Kubernetes' `omitempty` does.

/// `core/v1.PodSpec` (the rendered subset).
public struct PodSpec: Codable, Hashable, Sendable {
    public var serviceAccountName: String?
    public var hostPID: Bool?
    public var securityContext: PodSecurityContext?
    public var nodeSelector: [String: String]?
    public var priorityClassName: String?
    public var tolerations: [Toleration]?
    public var affinity: JSONValue?
    public var imagePullSecrets: [LocalObjectReference]?
    public var initContainers: [Container]?
    public var containers: [Container]
    public var volumes: [Volume]?
}

/// `core/v1.PodSecurityContext` (the rendered subset).
public struct PodSecurityContext: Codable, Hashable, Sendable {
    public var seccompProfile: SeccompProfileReference?
}

/// `core/v1.SeccompProfile`: which seccomp profile a pod or container runs under.
public struct SeccompProfileReference: Codable, Hashable, Sendable {
    public var type: String
    public var localhostProfile: String?
}

/// `core/v1.Container` (the rendered subset).
public struct Container: Codable, Hashable, Sendable {
    public var name: String
    public var image: String
    public var imagePullPolicy: String?
    public var args: [String]?
    public var env: [EnvVar]?
    public var ports: [ContainerPort]?
    public var volumeMounts: [VolumeMount]?
    public var resources: ResourceRequirements?
    public var securityContext: SecurityContext?
    public var startupProbe: Probe?
    public var livenessProbe: Probe?
    public var readinessProbe: Probe?
}

/// `core/v1.EnvVar` with a literal value or a field reference.
public struct EnvVar: Codable, Hashable, Sendable {
    public struct Source: Codable, Hashable, Sendable {
        public struct FieldRef: Codable, Hashable, Sendable { public var fieldPath: String }
        public var fieldRef: FieldRef
    }

    public var name: String
    public var value: String?
    public var valueFrom: Source?

    public static func literal(_ name: String, _ value: String) -> EnvVar { EnvVar(name: name, value: value) }
    public static func field(_ name: String, _ path: String) -> EnvVar { EnvVar(name: name, valueFrom: Source(fieldRef: .init(fieldPath: path))) }
}

/// `core/v1.ContainerPort`.
public struct ContainerPort: Codable, Hashable, Sendable {
    public var name: String
    public var containerPort: Int
    public var `protocol`: String = "TCP"
}

/// `core/v1.VolumeMount`.
public struct VolumeMount: Codable, Hashable, Sendable {
    public var name: String
    public var mountPath: String
    public var readOnly: Bool?
}

/// `core/v1.Volume` of the kinds the DaemonSet uses: host paths, empty dirs and secrets.
public struct Volume: Codable, Hashable, Sendable {
    public struct HostPath: Codable, Hashable, Sendable {
        public var path: String
        public var type: String?
    }

    public struct EmptyDir: Codable, Hashable, Sendable {}

    public struct SecretSource: Codable, Hashable, Sendable {
        public var secretName: String
        public var optional: Bool?
    }

    public var name: String
    public var hostPath: HostPath?
    public var emptyDir: EmptyDir?
    public var secret: SecretSource?

    public static func host(_ name: String, _ path: String, type: String) -> Volume { Volume(name: name, hostPath: .init(path: path, type: type)) }
    public static func empty(_ name: String) -> Volume { Volume(name: name, emptyDir: .init()) }
    /// A Secret's keys as files; with `optional`, the pod starts (with an empty directory) before the Secret exists.
    public static func secret(_ name: String, secretName: String, optional: Bool) -> Volume {
        Volume(name: name, secret: .init(secretName: secretName, optional: optional))
    }
}

/// `core/v1.SecurityContext` (the rendered subset).
public struct SecurityContext: Codable, Hashable, Sendable {
    public struct Capabilities: Codable, Hashable, Sendable {
        public var add: [String]?
        public var drop: [String]?
    }

    public struct SELinuxOptions: Codable, Hashable, Sendable {
        public var type: String?
    }

    public var privileged: Bool?
    public var allowPrivilegeEscalation: Bool?
    public var readOnlyRootFilesystem: Bool?
    public var runAsUser: Int64?
    public var runAsGroup: Int64?
    public var runAsNonRoot: Bool?
    public var capabilities: Capabilities?
    public var seLinuxOptions: SELinuxOptions?
}

/// `core/v1.Probe` over HTTP GET.
public struct Probe: Codable, Hashable, Sendable {
    public struct HTTPGet: Codable, Hashable, Sendable {
        public var path: String
        public var port: String
    }

    public var httpGet: HTTPGet
    public var failureThreshold: Int?
    public var periodSeconds: Int?
    public var timeoutSeconds: Int?
}
