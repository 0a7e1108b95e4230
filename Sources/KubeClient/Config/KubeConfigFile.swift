/// The on-disk kubeconfig format (`apiVersion: v1`, `kind: Config`), as much of it as the client uses.
struct KubeConfigFile: Decodable, Sendable {
    struct NamedCluster: Decodable, Sendable {
        var name: String
        var cluster: Cluster
    }

    struct Cluster: Decodable, Sendable {
        var server: String?
        var certificateAuthority: String?
        var certificateAuthorityData: String?
        var insecureSkipTLSVerify: Bool?

        enum CodingKeys: String, CodingKey {
            case server
            case certificateAuthority = "certificate-authority"
            case certificateAuthorityData = "certificate-authority-data"
            case insecureSkipTLSVerify = "insecure-skip-tls-verify"
        }
    }

    struct NamedUser: Decodable, Sendable {
        var name: String
        var user: User
    }

    struct User: Decodable, Sendable {
        var token: String?
        var tokenFile: String?
        var clientCertificate: String?
        var clientCertificateData: String?
        var clientKey: String?
        var clientKeyData: String?
        var username: String?
        var exec: ExecConfig?
        var authProvider: AuthProvider?

        struct ExecConfig: Decodable, Sendable { var command: String? }
        struct AuthProvider: Decodable, Sendable { var name: String? }

        enum CodingKeys: String, CodingKey {
            case token, tokenFile, username, exec
            case clientCertificate = "client-certificate"
            case clientCertificateData = "client-certificate-data"
            case clientKey = "client-key"
            case clientKeyData = "client-key-data"
            case authProvider = "auth-provider"
        }
    }

    struct NamedContext: Decodable, Sendable {
        var name: String
        var context: Context
    }

    struct Context: Decodable, Sendable {
        var cluster: String?
        var user: String?
        var namespace: String?
    }

    var currentContext: String?
    var clusters: [NamedCluster]?
    var users: [NamedUser]?
    var contexts: [NamedContext]?

    enum CodingKeys: String, CodingKey {
        case currentContext = "current-context"
        case clusters, users, contexts
    }
}
