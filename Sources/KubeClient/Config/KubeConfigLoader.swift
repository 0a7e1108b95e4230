import Foundation
import Yams

/// Builds a ``KubeClientConfiguration`` the way controller-runtime does, first match wins:
/// an explicit `--kubeconfig` path, `KUBECONFIG` (colon-separated files, merged), the
/// in-cluster service account, then `~/.kube/config`.
public struct KubeConfigLoader: Sendable {
    /// Where the in-cluster files live (a test can point these at a temporary directory).
    public struct InClusterPaths: Sendable {
        public var token: String
        public var certificateAuthority: String
        public var namespace: String

        public init(
            token: String = "/var/run/secrets/kubernetes.io/serviceaccount/token",
            certificateAuthority: String = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
            namespace: String = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
        ) {
            self.token = token
            self.certificateAuthority = certificateAuthority
            self.namespace = namespace
        }
    }

    public var environment: [String: String]
    public var homeDirectory: String
    public var inClusterPaths: InClusterPaths

    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        homeDirectory: String = NSHomeDirectory(),
        inClusterPaths: InClusterPaths = InClusterPaths()
    ) {
        self.environment = environment
        self.homeDirectory = homeDirectory
        self.inClusterPaths = inClusterPaths
    }

    /// Loads the configuration by precedence. `context` overrides `current-context`.
    public func load(kubeconfigPath: String? = nil, context: String? = nil) throws(KubeConfigError) -> KubeClientConfiguration {
        if let kubeconfigPath, !kubeconfigPath.isEmpty {
            return try fromKubeconfig(paths: [kubeconfigPath], context: context)
        }
        if let list = environment["KUBECONFIG"], !list.isEmpty {
            let paths = list.split(separator: ":").map(String.init).filter { !$0.isEmpty }
            return try fromKubeconfig(paths: paths, context: context)
        }
        if environment["KUBERNETES_SERVICE_HOST"] != nil {
            return try inCluster()
        }
        let home = homeDirectory + "/.kube/config"
        if FileManager.default.fileExists(atPath: home) {
            return try fromKubeconfig(paths: [home], context: context)
        }
        throw KubeConfigError(
            .noConfiguration,
            "no Kubernetes configuration found: pass --kubeconfig, set KUBECONFIG, run in a pod, or create \(home)"
        )
    }

    /// The in-cluster configuration from `KUBERNETES_SERVICE_HOST`/`_PORT` and the mounted service account.
    public func inCluster() throws(KubeConfigError) -> KubeClientConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
            let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else {
            throw KubeConfigError(.noConfiguration, "in-cluster configuration needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT")
        }
        // An IPv6 service address needs brackets in a URL.
        let hostPart = host.contains(":") ? "[\(host)]" : host
        guard let server = URL(string: "https://\(hostPart):\(port)") else {
            throw KubeConfigError(.invalidServer, "KUBERNETES_SERVICE_HOST/PORT do not form a URL: \(host):\(port)")
        }
        guard FileManager.default.isReadableFile(atPath: inClusterPaths.token) else {
            throw KubeConfigError(.unreadableFile, "service-account token is not readable", path: inClusterPaths.token)
        }
        let ca = try readFile(inClusterPaths.certificateAuthority, what: "service-account CA certificate", in: nil)
        let namespace = (try? String(contentsOfFile: inClusterPaths.namespace, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return KubeClientConfiguration(
            server: server,
            certificateAuthorityPEM: ca,
            bearerToken: .file(inClusterPaths.token),
            namespace: (namespace?.isEmpty ?? true) ? "default" : namespace!
        )
    }

    /// Loads and merges kubeconfig files (first file wins for each named entry and for
    /// `current-context`, as kubectl does), then resolves the selected context.
    public func fromKubeconfig(paths: [String], context: String? = nil) throws(KubeConfigError) -> KubeClientConfiguration {
        var merged = KubeConfigFile(currentContext: nil, clusters: [], users: [], contexts: [])
        // Relative file references resolve against the directory of the file that defines them.
        var clusterDir: [String: String] = [:]
        var userDir: [String: String] = [:]
        var loadedAny = false
        for path in paths {
            guard FileManager.default.fileExists(atPath: path) else {
                if paths.count == 1 { throw KubeConfigError(.unreadableFile, "file does not exist", path: path) }
                continue
            }
            let file = try parse(path: path)
            loadedAny = true
            let directory = (path as NSString).deletingLastPathComponent
            if merged.currentContext == nil, let current = file.currentContext, !current.isEmpty {
                merged.currentContext = current
            }
            for cluster in file.clusters ?? [] where clusterDir[cluster.name] == nil {
                merged.clusters?.append(cluster)
                clusterDir[cluster.name] = directory
            }
            for user in file.users ?? [] where userDir[user.name] == nil {
                merged.users?.append(user)
                userDir[user.name] = directory
            }
            for entry in file.contexts ?? [] where !(merged.contexts ?? []).contains(where: { $0.name == entry.name }) {
                merged.contexts?.append(entry)
            }
        }
        guard loadedAny else {
            throw KubeConfigError(.unreadableFile, "none of the files in KUBECONFIG exist: \(paths.joined(separator: ":"))")
        }
        let origin = paths.joined(separator: ":")
        guard let contextName = context ?? merged.currentContext else {
            throw KubeConfigError(.missingContext, "no current-context is set and no context was given", path: origin)
        }
        guard let selected = merged.contexts?.first(where: { $0.name == contextName })?.context else {
            throw KubeConfigError(.missingContext, "context \"\(contextName)\" is not defined", path: origin)
        }
        guard let clusterName = selected.cluster,
            let cluster = merged.clusters?.first(where: { $0.name == clusterName })?.cluster
        else {
            throw KubeConfigError(.missingCluster, "cluster \"\(selected.cluster ?? "")\" of context \"\(contextName)\" is not defined", path: origin)
        }
        guard let serverText = cluster.server, !serverText.isEmpty else {
            throw KubeConfigError(.missingServer, "cluster \"\(clusterName)\" has no server", path: origin)
        }
        guard let server = URL(string: serverText), let scheme = server.scheme, ["http", "https"].contains(scheme), server.host != nil else {
            throw KubeConfigError(.invalidServer, "server \"\(serverText)\" of cluster \"\(clusterName)\" is not an http(s) URL", path: origin)
        }
        var configuration = KubeClientConfiguration(server: server, namespace: selected.namespace ?? "default")
        configuration.insecureSkipTLSVerify = cluster.insecureSkipTLSVerify ?? false
        configuration.certificateAuthorityPEM = try material(
            data: cluster.certificateAuthorityData, file: cluster.certificateAuthority,
            what: "certificate-authority of cluster \"\(clusterName)\"", directory: clusterDir[clusterName], origin: origin)

        if let userName = selected.user, !userName.isEmpty {
            guard let user = merged.users?.first(where: { $0.name == userName })?.user else {
                throw KubeConfigError(.missingUser, "user \"\(userName)\" of context \"\(contextName)\" is not defined", path: origin)
            }
            if user.exec != nil || user.authProvider != nil {
                throw KubeConfigError(
                    .unsupportedAuth,
                    "user \"\(userName)\" uses an exec or auth-provider plugin, which this client does not run; use a token or client certificate",
                    path: origin)
            }
            let directory = userDir[userName]
            if let token = user.token, !token.isEmpty {
                configuration.bearerToken = .literal(token)
            } else if let tokenFile = user.tokenFile, !tokenFile.isEmpty {
                configuration.bearerToken = .file(resolve(tokenFile, against: directory))
            }
            let certificate = try material(
                data: user.clientCertificateData, file: user.clientCertificate,
                what: "client-certificate of user \"\(userName)\"", directory: directory, origin: origin)
            let key = try material(
                data: user.clientKeyData, file: user.clientKey,
                what: "client-key of user \"\(userName)\"", directory: directory, origin: origin)
            switch (certificate, key) {
            case (let certificate?, let key?):
                configuration.clientCertificate = .init(certificatePEM: certificate, keyPEM: key)
            case (nil, nil):
                break
            default:
                throw KubeConfigError(
                    .incompleteClientCertificate,
                    "user \"\(userName)\" has a client certificate without a key or a key without a certificate", path: origin)
            }
        }
        return configuration
    }

    private func parse(path: String) throws(KubeConfigError) -> KubeConfigFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw KubeConfigError(.unreadableFile, "cannot read file: \(error.localizedDescription)", path: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw KubeConfigError(.malformedFile, "file is not UTF-8 text", path: path)
        }
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw KubeConfigError(.malformedFile, "file is empty", path: path)
        }
        do {
            return try YAMLDecoder().decode(KubeConfigFile.self, from: text)
        } catch {
            throw KubeConfigError(.malformedFile, "not a valid kubeconfig: \(error)", path: path)
        }
    }

    private func material(data: String?, file: String?, what: String, directory: String?, origin: String) throws(KubeConfigError) -> [UInt8]? {
        if let data, !data.isEmpty {
            guard let decoded = Data(base64Encoded: data.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw KubeConfigError(.invalidBase64, "\(what) data is not valid base64", path: origin)
            }
            return Array(decoded)
        }
        if let file, !file.isEmpty {
            return try readFile(resolve(file, against: directory), what: what, in: origin)
        }
        return nil
    }

    private func readFile(_ path: String, what: String, in origin: String?) throws(KubeConfigError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let where_ = origin.map { " (referenced from \($0))" } ?? ""
            throw KubeConfigError(.unreadableFile, "cannot read \(what)\(where_)", path: path)
        }
        return Array(data)
    }

    private func resolve(_ path: String, against directory: String?) -> String {
        guard !path.hasPrefix("/"), let directory, !directory.isEmpty else { return path }
        return directory + "/" + path
    }
}
