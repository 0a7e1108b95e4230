import KubeModels
import SPOAPI

/// Large annotations the daemon writes but only ever compares, cached as a fingerprint: the
/// seccomp daemon keeps every profile in memory, and the `syscalls` annotation (the merged
/// rules as JSON, about 1 KiB for 60 syscalls) was the biggest part of each cached object.
/// Cached copies trimmed this way are never written back: the daemon changes profiles with
/// merge patches of the fields it owns (``NodeProfileStatus/claim(_:annotations:)``).
public enum AnnotationFingerprint {
    /// `sha256:<hex>` of `value`.
    public static func of(_ value: String) -> String {
        "sha256:" + Digest.sha256Hex(value)
    }

    /// Whether `cached` (a value or its fingerprint) stands for `value`.
    public static func matches(_ cached: String?, _ value: String) -> Bool {
        guard let cached else { return false }
        return cached == value || (cached.hasPrefix("sha256:") && cached == of(value))
    }

    /// An informer transform replacing the values of `keys` with their fingerprints.
    public static func trimming<Object: KubeResource>(_ keys: [String]) -> @Sendable (Object) -> Object {
        { object in
            guard let annotations = object.metadata.annotations, keys.contains(where: { annotations[$0] != nil }) else { return object }
            var object = object
            for key in keys {
                if let value = annotations[key] { object.metadata.annotations?[key] = of(value) }
            }
            return object
        }
    }
}
