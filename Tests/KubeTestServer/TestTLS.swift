import Foundation
import NIOSSL

/// A self-signed certificate for `127.0.0.1`/`localhost`, made with `openssl` for TLS tests.
public struct TestTLS: Sendable {
    public var certificatePEM: String
    public var privateKeyPEM: String

    /// Generates a fresh key and certificate valid for one day.
    public static func generate() throws -> TestTLS {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kube-test-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyPath = directory.appendingPathComponent("key.pem").path
        let certificatePath = directory.appendingPathComponent("cert.pem").path
        let status = try ChildProcess.runBlocking("openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", keyPath, "-out", certificatePath, "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ])
        guard status == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "openssl failed with status \(status)"])
        }
        return TestTLS(
            certificatePEM: try String(contentsOfFile: certificatePath, encoding: .utf8),
            privateKeyPEM: try String(contentsOfFile: keyPath, encoding: .utf8))
    }

    /// Writes the pair as a mounted `kubernetes.io/tls` Secret holds it: `tls.crt` and `tls.key`
    /// in `directory`.
    public func write(into directory: URL) throws {
        try certificatePEM.write(to: directory.appendingPathComponent("tls.crt"), atomically: true, encoding: .utf8)
        try privateKeyPEM.write(to: directory.appendingPathComponent("tls.key"), atomically: true, encoding: .utf8)
    }

    func serverConfiguration() throws -> TLSConfiguration {
        TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)))
    }
}
