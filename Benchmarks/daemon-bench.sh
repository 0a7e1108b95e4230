#!/usr/bin/env bash
# Runs the daemon benchmark end to end on this machine: the test API server and the daemon as
# separate release-built processes, then daemon-bench against them. To measure another daemon
# (e.g. upstream's) against a real cluster, run daemon-bench directly with its kubeconfig, PID
# and kubelet directory.
#
# The daemon is built as the image ships it (hack/build-release.sh, as the Dockerfile): the
# Swift runtime linked statically, in its own build folder. Its memory is then its own; a daemon linked dynamically shares the
# Swift libraries' pages with the test API server, and its RSS counts them.
set -euo pipefail
cd "$(dirname "$0")/.."
operator=$(hack/build-release.sh)
swift build -c release --product kube-test-apiserver
swift build -c release --product daemon-bench
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d)
trap 'kill $daemon $server 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin/kube-test-apiserver" "$work/kubeconfig" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do [ -f "$work/kubeconfig" ] && break; sleep 0.1; done
NODE_NAME=bench-node OPERATOR_NAMESPACE=security-profiles-operator \
    "$operator" daemon --kubeconfig "$work/kubeconfig" --kubelet-dir "$work/kubelet" \
    --health-probe-port 0 --metrics-port 0 --log-level warning > "$work/daemon.log" 2>&1 &
daemon=$!
# Idle means settled: synced, start-up pages released (a second after ready), then left alone.
sleep 5
"$bin/daemon-bench" --kubeconfig "$work/kubeconfig" --pid "$daemon" --kubelet-dir "$work/kubelet" "$@"
