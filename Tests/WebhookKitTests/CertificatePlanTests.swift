import Foundation
import SPOManagerKit
import Testing

/// The self-managed certificates' life (no I/O): creation, renewal with the same CA, and a CA
/// rotation in which the API server always trusts what the webhook presents.
@Suite struct CertificatePlanTests {
    let plan = WebhookCertificatePlan(policy: .init(caLifetime: 300, servingLifetime: 90, renewWhenLeft: 1.0 / 3.0, settle: 10))
    let hosts = ["webhook-service.spo.svc", "webhook-service.spo.svc.cluster.local"]
    let start = Date(timeIntervalSince1970: 1_000_000)

    func certificate(_ id: String, from: Date, lifetime: TimeInterval) -> WebhookCertificatePlan.Certificate {
        .init(fingerprint: id, notBefore: from, notAfter: from.addingTimeInterval(lifetime))
    }

    @Test func aFreshInstallGetsACAAndACertificate() {
        #expect(plan.steps(.init(), now: start, hostnames: hosts).steps == [.createCA, .issueServing])
    }

    @Test func aCurrentPairNeedsNothingUntilTheServingRenewal() throws {
        let ca = certificate("ca1", from: start, lifetime: 300)
        let serving = WebhookCertificatePlan.Serving(certificate: certificate("s1", from: start, lifetime: 90), issuer: "ca1", hostnames: hosts, issuedAt: start)
        let facts = WebhookCertificatePlan.Facts(ca: ca, serving: serving, trusted: ["ca1"])
        let (steps, recheck) = plan.steps(facts, now: start.addingTimeInterval(10), hostnames: hosts)
        #expect(steps.isEmpty)
        #expect(recheck == start.addingTimeInterval(60), "renewed with a third of its lifetime left")
        #expect(plan.steps(facts, now: start.addingTimeInterval(61), hostnames: hosts).steps == [.issueServing])
        // Other names, or an expired certificate, are reissued at once.
        var renamed = facts
        renamed.serving?.hostnames = ["old.svc"]
        #expect(plan.steps(renamed, now: start.addingTimeInterval(10), hostnames: hosts).steps == [.issueServing])
    }

    /// The rotation: new CA trusted beside the old; then, once the API server took up the
    /// bundle, the serving certificate from the new CA; the old CA goes only when it expires.
    @Test func aCARotationNeverLeavesTheServedCertificateUntrusted() throws {
        let old = certificate("ca1", from: start, lifetime: 300)
        var facts = WebhookCertificatePlan.Facts(
            ca: old, serving: .init(certificate: certificate("s1", from: start.addingTimeInterval(150), lifetime: 90), issuer: "ca1", hostnames: hosts, issuedAt: start.addingTimeInterval(150)),
            trusted: ["ca1"])
        let due = start.addingTimeInterval(201)
        #expect(plan.steps(facts, now: due, hostnames: hosts).steps == [.rotateCA])
        // The manager rotated: new CA current, old one previous, both in the bundle it writes.
        facts.previousCA = old
        facts.ca = certificate("ca2", from: due, lifetime: 300)
        facts.caRotatedAt = due
        #expect(WebhookCertificatePlan.bundle(facts) == ["ca2", "ca1"])
        // The API server does not show the new bundle yet: the serving certificate waits.
        #expect(plan.steps(facts, now: due.addingTimeInterval(1), hostnames: hosts).steps.isEmpty)
        facts.trusted = ["ca1", "ca2"]
        #expect(plan.steps(facts, now: due.addingTimeInterval(5), hostnames: hosts).steps.isEmpty, "the settle time has not passed")
        let switched = due.addingTimeInterval(11)
        #expect(plan.steps(facts, now: switched, hostnames: hosts).steps == [.issueServing])
        facts.serving = .init(certificate: certificate("s2", from: switched, lifetime: 90), issuer: "ca2", hostnames: hosts, issuedAt: switched)
        let (steps, recheck) = plan.steps(facts, now: switched.addingTimeInterval(30), hostnames: hosts)
        #expect(steps.isEmpty, "pods may still present s1")
        #expect(recheck.map { $0 <= old.notAfter } == true)
        #expect(plan.steps(facts, now: old.notAfter.addingTimeInterval(-1), hostnames: hosts).steps.contains(.dropPreviousCA) == false)
        #expect(plan.steps(facts, now: old.notAfter, hostnames: hosts).steps.contains(.dropPreviousCA))
    }

    @Test func anExpiredCAStartsOver() {
        let facts = WebhookCertificatePlan.Facts(ca: certificate("ca1", from: start, lifetime: 300), trusted: ["ca1"])
        #expect(plan.steps(facts, now: start.addingTimeInterval(301), hostnames: hosts).steps == [.createCA, .issueServing])
    }
}
