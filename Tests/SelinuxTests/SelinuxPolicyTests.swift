import KubeModels
import SPOAPI
import SelinuxKit
import Testing

/// SelinuxProfile → CIL (golden) and RawSelinuxProfile wrapping, with the checks that keep
/// profile content from breaking out of its block.
struct SelinuxPolicyTests {
    func profile(_ spec: SelinuxProfile.Spec, name: String = "nginx") -> SelinuxProfile {
        SelinuxProfile(metadata: ObjectMeta(name: name, namespace: "shop"), spec: spec)
    }

    func cil(_ profile: SelinuxProfile, allowed: [String] = ["container", "net_container"], existing: Set<String> = ["base"]) -> String {
        do {
            return try SelinuxPolicy.cil(for: profile, allowedSystemProfiles: allowed) { existing.contains($0) }
        } catch {
            return "error: \(error)"
        }
    }

    func raw(_ policy: String, name: String = "raw") -> String {
        do {
            return try SelinuxPolicy.cil(for: RawSelinuxProfile(metadata: ObjectMeta(name: name, namespace: "shop"), spec: .init(policy: policy)))
        } catch {
            return "error: \(error)"
        }
    }

    @Test func namesAndUsage() {
        #expect(SelinuxPolicy.moduleName(name: "nginx", namespace: "shop") == "nginx_shop")
        #expect(SelinuxPolicy.usage(name: "nginx", namespace: "shop") == "nginx_shop.process")
    }

    @Test func aProfileInheritsContainerByDefaultAndSortsItsRules() {
        let spec = SelinuxProfile.Spec(allow: [
            "var_log_t": ["file": ["write", "open", "append", "open"], "dir": ["search"]],
            "@self": ["tcp_socket": ["listen"]],
            "http_port_t": ["tcp_socket": ["name_bind"]],
        ])
        #expect(cil(profile(spec)) == """
            (block nginx_shop
                (blockinherit container)
                (allow process nginx_shop.process (tcp_socket (listen)))
                (allow process http_port_t (tcp_socket (name_bind)))
                (allow process var_log_t (dir (search)))
                (allow process var_log_t (file (append open write)))
            )

            """)
    }

    @Test func inheritsPermissiveAndParentProfiles() {
        let system = SelinuxProfile.Spec(inherit: [.init(kind: .system, name: "net_container")], permissive: true)
        #expect(cil(profile(system)) == "(block nginx_shop\n    (blockinherit container)\n    (blockinherit net_container)\n    (typepermissive process)\n)\n")
        let child = SelinuxProfile.Spec(inherit: [.init(kind: .selinuxProfile, name: "base")], allow: ["etc_t": ["file": ["read"]]])
        #expect(cil(profile(child)) == "(block nginx_shop\n    (blockinherit base_shop)\n    (allow process etc_t (file (read)))\n)\n")
    }

    @Test func inheritsOutsideTheAllowListOrMissingAreErrors() {
        #expect(cil(profile(.init(inherit: [.init(kind: .system, name: "unconfined")])))
            == "error: spec.inherit[0]: system profile unconfined not in SecurityProfilesOperatorDaemon's allow list")
        #expect(cil(profile(.init(inherit: [.init(kind: .selinuxProfile, name: "later")])))
            == "error: spec.inherit[0]: SelinuxProfile later not found in namespace shop")
        #expect(cil(profile(.init(inherit: [.init(kind: .selinuxProfile, name: "nginx")])), existing: ["nginx"])
            == "error: spec.inherit[0]: a profile cannot inherit from itself")
    }

    @Test func labelsClassesAndPermissionsCannotInjectCIL() {
        let attempts: [[String: [String: [String]]]] = [
            ["etc_t) (allow process shadow_t (file (read": ["file": ["read"]]],
            ["etc_t": ["file (read)) (allow": ["read"]]],
            ["etc_t": ["file": ["read))) (typepermissive process"]]],
            ["etc_t": ["file": []]],
        ]
        for allow in attempts {
            #expect(cil(profile(.init(allow: allow))).hasPrefix("error: spec.allow["), "\(allow)")
        }
        #expect(cil(profile(.init(), name: "my.profile")) == "error: metadata.name: \"my.profile\" contains '.', which CIL block names cannot")
    }

    @Test func rawPoliciesAreWrappedVerbatimWithoutHTMLEscaping() {
        let policy = """

              (type my_t)
              ; a comment with ) and "quotes" & <angle brackets>
              (allow process my_t (file (read)))
              (typetransition process my_t file "name with (parens)" my_t)

            """
        #expect(raw(policy) == """
            (block raw_shop
                (type my_t)
                  ; a comment with ) and "quotes" & <angle brackets>
                  (allow process my_t (file (read)))
                  (typetransition process my_t file "name with (parens)" my_t)
            )

            """)
    }

    @Test func rawPoliciesThatCouldLeaveTheirBlockAreRefused() {
        #expect(raw("(type a)) (allow unconfined_t shadow_t (file (read))) (block x (type b)") == "error: spec.policy: line 1: ')' closes more than the policy opened")
        #expect(raw("(type a") == "error: spec.policy: 1 unclosed '('")
        #expect(raw("(type \"a)") == "error: spec.policy: unterminated string")
        #expect(raw("  \n ") == "error: spec.policy: Required value")
    }
}
