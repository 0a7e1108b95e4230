#!/usr/bin/env bash
# The recorder's figures (issue 23; Benchmarks/README.md):
#   - the daemon's RSS with 5,000 pods on its node, recording on, with and without
#     enableMemoryOptimization (which caches only pods labelled spo.x-k8s.io/enable-recording);
#   - the logs recorder's throughput (enricher-bench record);
#   - the bpf recorder's syscall overhead on a task in another mount namespace, as a container
#     (recorder-bench; needs root).
#   Benchmarks/recorder-bench.sh [pods]
set -euo pipefail
cd "$(dirname "$0")/.."
pods=${1:-5000}
operator=$(hack/build-release.sh)   # as the image ships it
for product in kube-test-apiserver daemon-bench enricher-bench recorder-bench syscall-loop; do swift build -c release --product "$product"; done
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d)
server="" daemon=""
trap 'kill $daemon $server 2>/dev/null || true; rm -rf "$work"' EXIT

pods_run() { # label, daemon flags...
    local label=$1; shift
    rm -f "$work/kubeconfig"
    "$bin/kube-test-apiserver" "$work/kubeconfig" > "$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do [ -f "$work/kubeconfig" ] && break; sleep 0.1; done
    : > "$work/audit.log"
    NODE_NAME=bench-node OPERATOR_NAMESPACE=security-profiles-operator \
        "$operator" daemon --kubeconfig "$work/kubeconfig" --kubelet-dir "$work/kubelet" \
        --health-probe-port 0 --metrics-port 0 --log-level warning --recording-state-dir "$work/state" \
        --source audit --audit-log "$work/audit.log" "$@" > "$work/daemon.log" 2>&1 &
    daemon=$!
    sleep 5
    echo "== daemon $label"
    "$bin/daemon-bench" --kubeconfig "$work/kubeconfig" --pid "$daemon" --kubelet-dir "$work/kubelet" --pods "$pods"
    kill "$daemon" "$server"; wait "$daemon" "$server" 2>/dev/null || true
}
pods_run "without recording"
pods_run "recording (logs)" --with-recording=true --with-logs-recorder=true
pods_run "recording (logs), memory optimisation" --with-recording=true --with-logs-recorder=true --with-mem-optim=true

echo "== logs recorder"
"$bin/enricher-bench" record
echo "== bpf recorder"
"$bin/recorder-bench" --loop "$bin/syscall-loop"
