import KubeModels

/// Names and labels that tie a profile to its per-node statuses (reference §2.3-§2.5).
public enum ProfileIdentity {
    /// The `spo.x-k8s.io/profile-id` label value: `<Kind>-<name>` when shorter than 63
    /// characters, otherwise `<Kind>-` and a SHA-256 prefix, 63 characters in all.
    public static func profileID(kind: String, name: String) -> String {
        let friendly = "\(kind)-\(name)"
        if friendly.count < 63 { return friendly }
        return "\(kind)-" + Digest.sha256Hex(friendly).prefix(63 - kind.count - 1)
    }

    /// The finalizer a node's daemon puts on a profile: `<node>-deleted`, the node name cut to
    /// 55 characters so the whole stays within 63.
    public static func nodeFinalizer(nodeName: String) -> String {
        "\(nodeName.prefix(55))-deleted"
    }

    /// The name of a profile's status object for one node.
    public static func nodeStatusName(profileName: String, nodeName: String) -> String {
        "\(profileName)-\(nodeName)"
    }

    /// A node status for `profile` on `nodeName`, owned by the profile.
    public static func nodeStatus<Profile: KubeResource>(for profile: Profile, nodeName: String, state: ProfileState) -> SecurityProfileNodeStatus {
        let name = profile.metadata.name ?? ""
        var metadata = ObjectMeta(
            name: nodeStatusName(profileName: name, nodeName: nodeName), namespace: profile.metadata.namespace,
            labels: [
                SPOMetadata.profileIDLabel: profileID(kind: Profile.kind, name: name),
                SPOMetadata.nodeNameLabel: nodeName,
                SPOMetadata.profileStateLabel: state.rawValue,
                SPOMetadata.profileKindLabel: Profile.kind,
            ])
        metadata.ownerReferences = [OwnerReference(
            apiVersion: Profile.apiVersion, kind: Profile.kind, name: name, uid: profile.metadata.uid ?? "",
            controller: true, blockOwnerDeletion: true)]
        var status = SecurityProfileNodeStatus(metadata: metadata, nodeName: nodeName, status: state)
        status.spec = [:]
        return status
    }
}
