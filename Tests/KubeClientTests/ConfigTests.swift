import Foundation
import KubeClient
import Testing

/// A temporary directory with helpers to write files into it.
final class TempDir {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("kubeclient-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ content: String) throws -> String {
        let file = path + "/" + name
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try content.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}

func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

let sampleKubeconfig = """
    apiVersion: v1
    kind: Config
    current-context: dev
    clusters:
    - name: dev-cluster
      cluster:
        server: https://10.0.0.1:6443
        certificate-authority-data: \(base64("CA-PEM"))
    - name: prod-cluster
      cluster:
        server: https://prod.example.com
        certificate-authority: certs/ca.crt
        insecure-skip-tls-verify: false
    users:
    - name: dev-user
      user:
        token: dev-token
    - name: prod-user
      user:
        client-certificate: certs/client.crt
        client-key-data: \(base64("KEY-PEM"))
    - name: file-user
      user:
        tokenFile: tokens/t
    contexts:
    - name: dev
      context: {cluster: dev-cluster, user: dev-user, namespace: team-a}
    - name: prod
      context: {cluster: prod-cluster, user: prod-user}
    - name: file
      context: {cluster: dev-cluster, user: file-user}
    """

@Suite struct KubeConfigLoaderTests {
    @Test func currentContextWithInlineData() throws {
        let dir = try TempDir()
        let file = try dir.write("config", sampleKubeconfig)
        let config = try KubeConfigLoader(environment: [:], homeDirectory: dir.path).load(kubeconfigPath: file)
        #expect(config.server.absoluteString == "https://10.0.0.1:6443")
        #expect(config.certificateAuthorityPEM == Array("CA-PEM".utf8))
        #expect(config.bearerToken == .literal("dev-token"))
        #expect(config.namespace == "team-a")
        #expect(config.clientCertificate == nil)
    }

    @Test func explicitContextWithFilesRelativeToTheKubeconfig() throws {
        let dir = try TempDir()
        try dir.write("certs/ca.crt", "PROD-CA")
        try dir.write("certs/client.crt", "CLIENT-CERT")
        let file = try dir.write("config", sampleKubeconfig)
        let config = try KubeConfigLoader(environment: [:], homeDirectory: dir.path).load(kubeconfigPath: file, context: "prod")
        #expect(config.server.host == "prod.example.com")
        #expect(config.certificateAuthorityPEM == Array("PROD-CA".utf8))
        #expect(config.clientCertificate == .init(certificatePEM: Array("CLIENT-CERT".utf8), keyPEM: Array("KEY-PEM".utf8)))
        #expect(config.namespace == "default")
        #expect(config.bearerToken == nil)
    }

    @Test func tokenFileResolvesRelativePath() throws {
        let dir = try TempDir()
        let file = try dir.write("config", sampleKubeconfig)
        let config = try KubeConfigLoader(environment: [:], homeDirectory: dir.path).load(kubeconfigPath: file, context: "file")
        #expect(config.bearerToken == .file(dir.path + "/tokens/t"))
    }

    @Test func precedenceExplicitThenKUBECONFIGThenInClusterThenHome() throws {
        let dir = try TempDir()
        let explicit = try dir.write("explicit", sampleKubeconfig.replacingOccurrences(of: "10.0.0.1", with: "10.0.0.2"))
        let fromEnv = try dir.write("env", sampleKubeconfig.replacingOccurrences(of: "10.0.0.1", with: "10.0.0.3"))
        try dir.write(".kube/config", sampleKubeconfig.replacingOccurrences(of: "10.0.0.1", with: "10.0.0.4"))
        let inClusterDir = try TempDir()
        let paths = KubeConfigLoader.InClusterPaths(
            token: try inClusterDir.write("token", "sa-token\n"), certificateAuthority: try inClusterDir.write("ca.crt", "SA-CA"),
            namespace: try inClusterDir.write("namespace", "operator-ns\n"))
        let env = ["KUBECONFIG": fromEnv, "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"]

        let loader = KubeConfigLoader(environment: env, homeDirectory: dir.path, inClusterPaths: paths)
        #expect(try loader.load(kubeconfigPath: explicit).server.host == "10.0.0.2")
        #expect(try loader.load().server.host == "10.0.0.3")

        var withoutKubeconfig = loader
        withoutKubeconfig.environment["KUBECONFIG"] = nil
        let inCluster = try withoutKubeconfig.load()
        #expect(inCluster.server.absoluteString == "https://10.96.0.1:443")
        #expect(inCluster.bearerToken == .file(paths.token))
        #expect(inCluster.namespace == "operator-ns")
        #expect(inCluster.certificateAuthorityPEM == Array("SA-CA".utf8))

        let homeOnly = KubeConfigLoader(environment: [:], homeDirectory: dir.path, inClusterPaths: paths)
        #expect(try homeOnly.load().server.host == "10.0.0.4")
    }

    @Test func inClusterIPv6AddressIsBracketed() throws {
        let dir = try TempDir()
        let paths = KubeConfigLoader.InClusterPaths(
            token: try dir.write("token", "t"), certificateAuthority: try dir.write("ca", "C"), namespace: dir.path + "/missing")
        let config = try KubeConfigLoader(environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"], inClusterPaths: paths).inCluster()
        #expect(config.server.absoluteString == "https://[fd00::1]:6443")
        #expect(config.namespace == "default")
    }

    @Test func kubeconfigListMergesFirstWins() throws {
        let dir = try TempDir()
        let first = try dir.write("a", """
            current-context: other
            contexts:
            - name: other
              context: {cluster: dev-cluster, user: dev-user, namespace: from-first}
            users:
            - name: dev-user
              user: {token: first-token}
            """)
        let second = try dir.write("b", sampleKubeconfig)
        let config = try KubeConfigLoader(environment: ["KUBECONFIG": "\(first):\(dir.path)/absent:\(second)"], homeDirectory: dir.path).load()
        #expect(config.namespace == "from-first")
        #expect(config.bearerToken == .literal("first-token"))
        #expect(config.server.host == "10.0.0.1")
    }

    static let badConfigs: [(String, KubeConfigError.Code, String)] = [
        ("", .malformedFile, "empty"),
        ("clusters: [unclosed", .malformedFile, "not a valid kubeconfig"),
        ("clusters: []", .missingContext, "no current-context"),
        ("current-context: x\ncontexts: []", .missingContext, "context \"x\" is not defined"),
        ("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}", .missingCluster, "cluster \"c\""),
        ("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: {}", .missingServer, "has no server"),
        ("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: {server: 'ftp://x'}", .invalidServer, "not an http(s) URL"),
        ("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://x'}", .missingUser, "user \"u\""),
        ("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: {server: 'https://x', certificate-authority-data: '!!notbase64'}", .invalidBase64, "not valid base64"),
        ("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: {server: 'https://x', certificate-authority: /nonexistent/ca}", .unreadableFile, "cannot read certificate-authority"),
        ("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://x'}\nusers:\n- name: u\n  user: {exec: {command: aws}}", .unsupportedAuth, "exec or auth-provider"),
        ("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://x'}\nusers:\n- name: u\n  user: {client-certificate-data: \(base64("C"))}", .incompleteClientCertificate, "without a key"),
    ]

    @Test(arguments: badConfigs.indices)
    func badKubeconfigsGiveClearErrors(index: Int) throws {
        let (content, code, fragment) = Self.badConfigs[index]
        let dir = try TempDir()
        let file = try dir.write("config", content)
        #expect {
            _ = try KubeConfigLoader(environment: [:], homeDirectory: dir.path).load(kubeconfigPath: file)
        } throws: { error in
            guard let error = error as? KubeConfigError else { return false }
            return error.code == code && error.description.contains(fragment) && error.path != nil
        }
    }

    @Test func missingEverythingSaysWhatToDo() throws {
        let dir = try TempDir()
        #expect {
            _ = try KubeConfigLoader(environment: [:], homeDirectory: dir.path).load()
        } throws: { error in
            (error as? KubeConfigError)?.code == .noConfiguration && "\(error)".contains("--kubeconfig")
        }
        #expect(throws: KubeConfigError.self) {
            _ = try KubeConfigLoader(environment: [:], homeDirectory: dir.path).load(kubeconfigPath: dir.path + "/nope")
        }
        let inCluster = KubeConfigLoader(
            environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"],
            inClusterPaths: .init(token: dir.path + "/none", certificateAuthority: dir.path + "/none", namespace: dir.path + "/none"))
        #expect { _ = try inCluster.load() } throws: { ($0 as? KubeConfigError)?.code == .unreadableFile }
    }
}
