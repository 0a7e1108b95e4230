import KubeModels

/// RBAC resources the test server stores, so that SubjectAccessReviews are decided by the
/// same ClusterRoles and bindings a cluster would have (e.g. the ones in `deploy/`).
public enum RBACResources {
    public static let clusterRoles = GroupVersionResource(
        group: "rbac.authorization.k8s.io", version: "v1", resource: "clusterroles", kind: "ClusterRole", namespaced: false)
    public static let clusterRoleBindings = GroupVersionResource(
        group: "rbac.authorization.k8s.io", version: "v1", resource: "clusterrolebindings", kind: "ClusterRoleBinding", namespaced: false)
    public static let roles = GroupVersionResource(
        group: "rbac.authorization.k8s.io", version: "v1", resource: "roles", kind: "Role", namespaced: true)
    public static let roleBindings = GroupVersionResource(
        group: "rbac.authorization.k8s.io", version: "v1", resource: "rolebindings", kind: "RoleBinding", namespaced: true)

    public static let all: [TestResource] = [clusterRoles, clusterRoleBindings, roles, roleBindings].map {
        TestResource($0, statusSubresource: false)
    }
}

/// Kubernetes' RBAC decision over stored objects: a request is allowed when a binding whose
/// subjects include the user (by name, group or service account) refers to a role with a rule
/// matching the verb and the resource or non-resource URL. There are no deny rules.
struct RBACEvaluator {
    var clusterRoles: [JSONValue]
    var clusterRoleBindings: [JSONValue]
    var roles: [JSONValue]
    var roleBindings: [JSONValue]

    func allows(_ spec: SubjectAccessReview.Spec) -> Bool {
        let namespace = spec.resourceAttributes?.namespace ?? ""
        var rules: [JSONValue] = []
        for binding in clusterRoleBindings where binds(binding, spec) {
            rules += roleRules(binding["roleRef"], bindingNamespace: nil)
        }
        if !namespace.isEmpty {
            for binding in roleBindings where binding[path: ["metadata", "namespace"]]?.stringValue == namespace && binds(binding, spec) {
                rules += roleRules(binding["roleRef"], bindingNamespace: namespace)
            }
        }
        return rules.contains { matches($0, spec) }
    }

    private func binds(_ binding: JSONValue, _ spec: SubjectAccessReview.Spec) -> Bool {
        let groups = Set(spec.groups ?? [])
        return (binding["subjects"]?.arrayValue ?? []).contains { subject in
            let name = subject["name"]?.stringValue ?? ""
            switch subject["kind"]?.stringValue {
            case "User": return name == spec.user
            case "Group": return groups.contains(name)
            case "ServiceAccount":
                return spec.user == "system:serviceaccount:\(subject["namespace"]?.stringValue ?? ""):\(name)"
            default: return false
            }
        }
    }

    private func roleRules(_ reference: JSONValue?, bindingNamespace: String?) -> [JSONValue] {
        let name = reference?["name"]?.stringValue
        let role: JSONValue?
        switch reference?["kind"]?.stringValue {
        case "ClusterRole":
            role = clusterRoles.first { $0[path: ["metadata", "name"]]?.stringValue == name }
        case "Role":
            role = roles.first {
                $0[path: ["metadata", "name"]]?.stringValue == name && $0[path: ["metadata", "namespace"]]?.stringValue == bindingNamespace
            }
        default:
            role = nil
        }
        return role?["rules"]?.arrayValue ?? []
    }

    private func matches(_ rule: JSONValue, _ spec: SubjectAccessReview.Spec) -> Bool {
        func list(_ key: String) -> [String] { rule[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        func covers(_ values: [String], _ value: String) -> Bool { values.contains("*") || values.contains(value) }
        if let attributes = spec.nonResourceAttributes {
            guard covers(list("verbs"), attributes.verb) else { return false }
            return list("nonResourceURLs").contains { url in
                url == "*" || url == attributes.path || (url.hasSuffix("*") && attributes.path.hasPrefix(String(url.dropLast())))
            }
        }
        guard let attributes = spec.resourceAttributes else { return false }
        var resource = attributes.resource ?? ""
        if let subresource = attributes.subresource, !subresource.isEmpty { resource += "/\(subresource)" }
        let names = list("resourceNames")
        return covers(list("verbs"), attributes.verb ?? "") && covers(list("apiGroups"), attributes.group ?? "")
            && covers(list("resources"), resource) && (names.isEmpty || names.contains(attributes.name ?? ""))
    }
}
