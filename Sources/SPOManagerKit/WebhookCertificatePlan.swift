import Foundation

/// When the manager's self-managed CA and the webhook's serving certificate are created,
/// renewed and retired, so that the API server always trusts the certificate the webhook
/// presents (no admission fails during a rotation). Pure: facts and a time in, steps out.
///
/// A serving certificate is renewed with the same CA: the `caBundle` already trusts it. A CA
/// is renewed in three steps: the new CA joins the bundle next to the old one; once the API
/// server has had `settle` to pick the bundle up, the serving certificate is reissued by the
/// new CA; the old CA stays in the bundle until it expires, as a pod may still present a
/// certificate it signed until the kubelet refreshed its Secret volume.
public struct WebhookCertificatePlan: Sendable {
    /// A certificate as far as the plan needs it.
    public struct Certificate: Hashable, Sendable {
        /// SHA-256 of the DER, hex: which certificate it is.
        public var fingerprint: String
        public var notBefore: Date
        public var notAfter: Date

        public init(fingerprint: String, notBefore: Date, notAfter: Date) {
            self.fingerprint = fingerprint
            self.notBefore = notBefore
            self.notAfter = notAfter
        }
    }

    /// The serving certificate in the webhook's Secret.
    public struct Serving: Hashable, Sendable {
        public var certificate: Certificate
        /// The fingerprint of the CA that signed it.
        public var issuer: String
        public var hostnames: [String]
        /// When the manager wrote it.
        public var issuedAt: Date?

        public init(certificate: Certificate, issuer: String, hostnames: [String], issuedAt: Date?) {
            self.certificate = certificate
            self.issuer = issuer
            self.hostnames = hostnames
            self.issuedAt = issuedAt
        }
    }

    /// What exists now.
    public struct Facts: Hashable, Sendable {
        public var ca: Certificate?
        /// The CA the current one replaced, still trusted until the serving certificate moved on.
        public var previousCA: Certificate?
        /// When the current CA replaced the previous one.
        public var caRotatedAt: Date?
        public var serving: Serving?
        /// The CA fingerprints the live webhook configuration's `caBundle` holds (on every webhook).
        public var trusted: Set<String>

        public init(ca: Certificate? = nil, previousCA: Certificate? = nil, caRotatedAt: Date? = nil, serving: Serving? = nil, trusted: Set<String> = []) {
            self.ca = ca
            self.previousCA = previousCA
            self.caRotatedAt = caRotatedAt
            self.serving = serving
            self.trusted = trusted
        }
    }

    /// Lifetimes and margins.
    public struct Policy: Hashable, Sendable {
        public var caLifetime: TimeInterval
        public var servingLifetime: TimeInterval
        /// A certificate is renewed once less than this fraction of its lifetime is left.
        public var renewWhenLeft: Double
        /// How long the API server and the webhook pods get to take up a change.
        public var settle: TimeInterval

        public init(caLifetime: TimeInterval, servingLifetime: TimeInterval, renewWhenLeft: Double = 1.0 / 3.0, settle: TimeInterval) {
            self.caLifetime = caLifetime
            self.servingLifetime = servingLifetime
            self.renewWhenLeft = renewWhenLeft
            self.settle = settle
        }

        /// Five years for the CA, one for serving certificates, renewed with a third left; two
        /// minutes for the kubelet to refresh a mounted Secret and the API server its configuration.
        public static let production = Policy(caLifetime: 5 * 365 * 86400, servingLifetime: 365 * 86400, settle: 120)
    }

    /// One step.
    public enum Step: Hashable, Sendable {
        /// Make the first CA.
        case createCA
        /// Make a new CA, keeping the current one as the previous (still trusted).
        case rotateCA
        /// Issue a serving certificate from the current CA.
        case issueServing
        /// Stop trusting the previous CA.
        case dropPreviousCA
    }

    public var policy: Policy

    public init(policy: Policy) {
        self.policy = policy
    }

    /// The steps due at `now`, in order, and when to look again.
    public func steps(_ facts: Facts, now: Date, hostnames: [String]) -> (steps: [Step], recheckAt: Date?) {
        var steps: [Step] = []
        var recheck: [Date] = []
        guard let ca = facts.ca, ca.notAfter > now else {
            // No CA (or an expired one): nothing can be trusted anyway; start over.
            return ([.createCA, .issueServing], nil)
        }
        let caRenewal = ca.notAfter.addingTimeInterval(-policy.caLifetime * policy.renewWhenLeft)
        if now >= caRenewal, facts.previousCA == nil {
            // The serving certificate follows once the new CA is trusted.
            return ([.rotateCA], now.addingTimeInterval(policy.settle))
        }
        if now < caRenewal { recheck.append(caRenewal) }

        if let serving = facts.serving, serving.certificate.notAfter > now, Set(serving.hostnames).isSuperset(of: hostnames) {
            if serving.issuer != ca.fingerprint {
                let trustedSince = (facts.caRotatedAt ?? .distantPast).addingTimeInterval(policy.settle)
                if facts.trusted.contains(ca.fingerprint), now >= trustedSince {
                    steps.append(.issueServing)
                } else {
                    recheck.append(max(trustedSince, now.addingTimeInterval(1)))
                }
            } else {
                let renewal = serving.certificate.notAfter.addingTimeInterval(-policy.servingLifetime * policy.renewWhenLeft)
                if now >= renewal { steps.append(.issueServing) } else { recheck.append(renewal) }
            }
        } else {
            // Missing, expired or for other names: nothing presents a usable certificate now.
            steps.append(.issueServing)
        }

        if let previous = facts.previousCA {
            // Trusted until it expires: a webhook pod whose mounted Secret has not been
            // refreshed yet (the kubelet takes up to a minute or two) may still present a
            // certificate it signed, and no certificate it signed outlives it.
            if previous.notAfter <= now { steps.append(.dropPreviousCA) } else { recheck.append(previous.notAfter) }
        }
        return (steps, recheck.min())
    }

    /// The CAs the webhook configuration must trust.
    public static func bundle(_ facts: Facts) -> [String] {
        [facts.ca?.fingerprint, facts.previousCA?.fingerprint].compactMap { $0 }
    }
}
