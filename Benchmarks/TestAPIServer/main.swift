// Serves the in-process test API server (with the operator's resources) on 127.0.0.1 until
// SIGTERM/SIGINT, and writes a kubeconfig for it, so that a daemon process and the daemon
// benchmark can run against it without a cluster.
//
//   kube-test-apiserver /tmp/bench-kubeconfig

import Foundation
import KubeModels
import KubeTestServer
import SPOAPI

#if canImport(Glibc)
import Glibc
#endif

guard CommandLine.arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: kube-test-apiserver KUBECONFIG-PATH\n".utf8))
    exit(2)
}
let kubeconfigPath = CommandLine.arguments[1]
let resources = TestResource.builtIn + [
    TestResource(DaemonSet.self), TestResource(KubeService.self, statusSubresource: false), TestResource(Deployment.self),
    TestResource(MutatingWebhookConfiguration.self, statusSubresource: false),
]
    + CRDs.all.map { TestResource($0.resource, statusSubresource: $0.statusSubresource) }

signal(SIGTERM, SIG_IGN)
signal(SIGINT, SIG_IGN)
let stop = AsyncStream<Void> { continuation in
    // Both sources must stay alive: a released signal source never fires.
    let sources = [SIGTERM, SIGINT].map { number in
        let source = DispatchSource.makeSignalSource(signal: number)
        source.setEventHandler { continuation.finish() }
        source.resume()
        return source
    }
    nonisolated(unsafe) let retained = sources
    continuation.onTermination = { _ in retained.forEach { $0.cancel() } }
}

try await KubeTestServer.withServer(resources: resources, historyLimit: 100_000) { server in
    let kubeconfig = """
        apiVersion: v1
        kind: Config
        clusters: [{name: test, cluster: {server: "\(server.url.absoluteString)"}}]
        users: [{name: test, user: {}}]
        contexts: [{name: test, context: {cluster: test, user: test, namespace: security-profiles-operator}}]
        current-context: test
        """
    try kubeconfig.write(toFile: kubeconfigPath, atomically: true, encoding: .utf8)
    print("serving \(server.url.absoluteString); kubeconfig \(kubeconfigPath)")
    for await _ in stop {}
}
