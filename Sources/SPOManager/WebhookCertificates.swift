import Crypto
import Foundation
import KubeModels
import SPOAPI
import SPOManagerKit
import SwiftASN1
import X509

/// The self-managed CA and serving certificate of the admission webhook, as they live in two
/// Secrets of the operator namespace: `spo-webhook-ca` (the CA's certificate and key, and the
/// previous CA while it is still trusted) and `webhook-server-cert` (`tls.crt`, `tls.key` and
/// `ca.crt`, what the webhook pods mount). P-256 keys, ECDSA signatures.
public enum WebhookCertificates {
    public static let caSecretName = "spo-webhook-ca"
    static let caCertificateKey = "ca.crt"
    static let caPrivateKeyKey = "ca.key"
    static let previousCAKey = "previous-ca.crt"
    /// When the current CA replaced the previous one (RFC 3339), on the CA Secret.
    static let rotatedAtAnnotation = "spo.x-k8s.io/ca-rotated-at"
    /// When the serving certificate was written (RFC 3339), on its Secret.
    static let issuedAtAnnotation = "spo.x-k8s.io/issued-at"

    /// A certificate or key that cannot be read back: the Secret was edited by hand.
    struct Unreadable: Error, CustomStringConvertible {
        var secret: String
        var key: String
        var reason: String
        var description: String { "Secret \(secret) key \(key) is unreadable (\(reason)): delete the Secret to have it recreated" }
    }

    // MARK: Minting

    /// A new CA valid from `now` (five minutes back, for clocks slightly behind) for `lifetime`.
    static func makeCA(now: Date, lifetime: TimeInterval) throws -> (certificate: String, key: String) {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName(SPOMetadata.appLabelValue)
            CommonName("security-profiles-operator webhook CA \(Int(now.timeIntervalSince1970))")
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(lifetime),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }

    /// A serving certificate for `hostnames` signed by the CA.
    static func issueServing(caCertificate: String, caKey: String, hostnames: [String], now: Date, lifetime: TimeInterval) throws -> (certificate: String, key: String) {
        let ca = try Certificate(pemEncoded: caCertificate)
        let signer = try P256.Signing.PrivateKey(pemRepresentation: caKey)
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName(SPOMetadata.appLabelValue)
            CommonName(hostnames.first ?? WebhookRenderer.serviceName)
        }
        let authority = try ca.extensions.subjectKeyIdentifier.map { AuthorityKeyIdentifier(keyIdentifier: $0.keyIdentifier) }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(hostnames.map { GeneralName.dnsName($0) })
            if let authority { authority }
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: min(now.addingTimeInterval(lifetime), ca.notValidAfter),
            issuer: ca.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: Certificate.PrivateKey(signer))
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }

    // MARK: Reading

    /// The plan's view of a PEM certificate.
    static func facts(_ pem: String) throws -> WebhookCertificatePlan.Certificate {
        let certificate = try Certificate(pemEncoded: pem)
        return WebhookCertificatePlan.Certificate(
            fingerprint: try fingerprint(pem), notBefore: certificate.notValidBefore, notAfter: certificate.notValidAfter)
    }

    /// SHA-256 of the first certificate's DER, as hex.
    static func fingerprint(_ pem: String) throws -> String {
        let document = try PEMDocument(pemString: pem)
        return SHA256.hash(data: document.derBytes).map { String(format: "%02x", $0) }.joined()
    }

    /// The fingerprints of every certificate in a base64 PEM bundle (a `caBundle`).
    static func bundleFingerprints(_ base64: String?) -> Set<String> {
        guard let base64, let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8),
              let documents = try? PEMDocument.parseMultiple(pemString: text)
        else { return [] }
        return Set(documents.map { SHA256.hash(data: $0.derBytes).map { String(format: "%02x", $0) }.joined() })
    }

    /// The DNS names a PEM certificate is valid for.
    static func hostnames(_ pem: String) -> [String] {
        guard let certificate = try? Certificate(pemEncoded: pem), let names = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { name in
            if case .dnsName(let host) = name { return host }
            return nil
        }
    }

    /// What exists, from the two Secrets and the live configuration.
    static func facts(caSecret: Secret?, servingSecret: Secret?, configuration: MutatingWebhookConfiguration?) throws -> WebhookCertificatePlan.Facts {
        var facts = WebhookCertificatePlan.Facts()
        if let caSecret, let pem = caSecret.text(caCertificateKey) {
            do {
                facts.ca = try Self.facts(pem)
            } catch {
                throw Unreadable(secret: caSecretName, key: caCertificateKey, reason: "\(error)")
            }
            facts.previousCA = caSecret.text(previousCAKey).flatMap { try? Self.facts($0) }
            facts.caRotatedAt = caSecret.metadata.annotations?[rotatedAtAnnotation].flatMap(KubeTime.parse)
        }
        if let servingSecret, let pem = servingSecret.text("tls.crt"), let certificate = try? Self.facts(pem) {
            facts.serving = WebhookCertificatePlan.Serving(
                certificate: certificate, issuer: servingSecret.text("ca.crt").flatMap { try? fingerprint($0) } ?? "",
                hostnames: hostnames(pem), issuedAt: servingSecret.metadata.annotations?[issuedAtAnnotation].flatMap(KubeTime.parse))
        }
        let webhooks = configuration?.webhooks ?? []
        if !webhooks.isEmpty {
            facts.trusted = webhooks.map { bundleFingerprints($0.clientConfig.caBundle) }.reduce(into: bundleFingerprints(webhooks[0].clientConfig.caBundle)) { $0.formIntersection($1) }
        }
        return facts
    }

    /// The `caBundle` value: the current CA's PEM, then the previous one's while it is trusted.
    static func caBundle(_ caSecret: Secret?) -> String? {
        guard let caSecret, let current = caSecret.text(caCertificateKey) else { return nil }
        let bundle = [current, caSecret.text(previousCAKey)].compactMap { $0?.trimmingCharacters(in: .whitespacesAndNewlines) }
        return Data((bundle.joined(separator: "\n") + "\n").utf8).base64EncodedString()
    }
}

extension Secret {
    /// A data value decoded from base64 as UTF-8 text.
    func text(_ key: String) -> String? {
        data?[key].flatMap { Data(base64Encoded: $0) }.flatMap { String(data: $0, encoding: .utf8) }
    }

    mutating func setText(_ key: String, _ value: String?) {
        var data = self.data ?? [:]
        data[key] = value.map { Data($0.utf8).base64EncodedString() }
        self.data = data
    }
}
