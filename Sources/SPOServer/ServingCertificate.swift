import Crypto
import Foundation
import NIOCore
import NIOSSL
import SwiftASN1
import Synchronization
import X509

/// The TLS certificate and key of the metrics server: read from a directory (a mounted
/// Secret with `tls.crt` and `tls.key`, as cert-manager and OpenShift's service CA write
/// them) and re-read whenever either file changes, or a self-signed pair made at start when
/// no directory is given.
///
/// Each TLS handshake asks ``currentOverride()`` for the certificate to present, so a rotated
/// Secret takes effect on the next connection without a restart.
public final class ServingCertificate: Sendable {
    /// A certificate chain and its key, parsed.
    struct Material: Sendable {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        /// The files' modification times and sizes when read.
        var stamp: [FileStamp]
        var selfSigned = false
    }

    struct FileStamp: Equatable, Sendable {
        var modified: Double
        var size: Int
        var inode: UInt64
    }

    /// A problem with the certificate files, naming the file.
    public struct LoadError: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "cannot load the serving certificate from \(path): \(reason)" }
    }

    private let directory: String?
    private let material: Mutex<Material>

    /// Reads `tls.crt` and `tls.key` from `directory`; while they do not exist (an optional
    /// Secret not created yet), serves a self-signed certificate for `hostnames` and switches
    /// to the files once they appear. Files that exist but do not load are an error.
    public init(directory: String?, hostnames: [String]) throws {
        self.directory = directory
        if let directory, Self.stamps(directory: directory).allSatisfy({ $0.size >= 0 }) {
            material = Mutex(try Self.load(directory: directory))
        } else {
            var generated = try Self.selfSigned(hostnames: hostnames)
            if let directory { generated.stamp = Self.stamps(directory: directory) }
            material = Mutex(generated)
        }
    }

    /// Whether the certificate in use is the self-signed one made at start.
    public var isSelfSigned: Bool { material.withLock { $0.selfSigned } }

    /// Whether the directory's certificate is in use, re-reading the files when they changed
    /// (a readiness check: a webhook must not present a certificate the API server cannot verify).
    public var servesDirectoryCertificate: Bool { !reloadIfChanged().selfSigned }

    /// The certificate chain's PEM-decoded leaf, for tests and logs.
    public var leafCertificate: NIOSSLCertificate? { material.withLock { $0.chain.first } }

    /// The server configuration: HTTP/1.1 only, the current certificate on every handshake.
    package func serverConfiguration() -> TLSConfiguration {
        let current = material.withLock { $0 }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: current.chain.map { .certificate($0) }, privateKey: .privateKey(current.key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        configuration.sslContextCallback = { [self] _, promise in
            promise.succeed(self.currentOverride())
        }
        return configuration
    }

    /// The certificate for a new handshake, re-reading the files when they changed. A broken
    /// or half-written pair keeps the previous one in use.
    func currentOverride() -> NIOSSLContextConfigurationOverride {
        var override = NIOSSLContextConfigurationOverride()
        let current = reloadIfChanged()
        override.certificateChain = current.chain.map { .certificate($0) }
        override.privateKey = .privateKey(current.key)
        return override
    }

    @discardableResult
    func reloadIfChanged() -> Material {
        let current = material.withLock { $0 }
        guard let directory else { return current }
        let stamp = Self.stamps(directory: directory)
        guard stamp != current.stamp, let fresh = try? Self.load(directory: directory) else { return current }
        material.withLock { $0 = fresh }
        return fresh
    }

    // MARK: Loading

    static func paths(_ directory: String) -> [String] {
        [directory + "/tls.crt", directory + "/tls.key"]
    }

    static func stamps(directory: String) -> [FileStamp] {
        paths(directory).map { path in
            // Follows symlinks: a mounted Secret swaps its `..data` link on rotation.
            let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: target) else {
                return FileStamp(modified: -1, size: -1, inode: 0)
            }
            return FileStamp(
                modified: (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0,
                size: (attributes[.size] as? NSNumber)?.intValue ?? 0,
                inode: (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0)
        }
    }

    static func load(directory: String) throws -> Material {
        let paths = paths(directory)
        let stamp = stamps(directory: directory)
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(paths[0])
        } catch {
            throw LoadError(path: paths[0], reason: "\(error)")
        }
        guard !chain.isEmpty else { throw LoadError(path: paths[0], reason: "no certificate in the file") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: paths[1], format: .pem)
        } catch {
            throw LoadError(path: paths[1], reason: "\(error)")
        }
        // A pair caught between the writes of its two files (a new certificate, the old key)
        // would fail every handshake: keep the previous pair until both files match.
        if let certificateText = try? String(contentsOfFile: paths[0], encoding: .utf8),
           let keyText = try? String(contentsOfFile: paths[1], encoding: .utf8),
           let leaf = try? Certificate(pemEncoded: certificateText), let parsedKey = try? Certificate.PrivateKey(pemEncoded: keyText),
           parsedKey.publicKey != leaf.publicKey {
            throw LoadError(path: paths[1], reason: "the key does not belong to the certificate in \(paths[0])")
        }
        return Material(chain: chain, key: key, stamp: stamp)
    }

    static func selfSigned(hostnames: [String]) throws -> Material {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(hostnames.first ?? "security-profiles-operator") }
        let now = Date()
        var names = hostnames.map { GeneralName.dnsName($0) }
        names.append(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])))
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(365 * 24 * 3600),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                // No KeyUsage: a client that pins this certificate as its own root needs it
                // to count as self-issued, which a usage without keyCertSign would prevent.
                Critical(BasicConstraints.notCertificateAuthority)
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
        let pem = try certificate.serializeAsPEM().pemString
        return Material(
            chain: try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)),
            key: try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem),
            stamp: [], selfSigned: true)
    }
}
