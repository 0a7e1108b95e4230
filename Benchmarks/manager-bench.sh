#!/usr/bin/env bash
# Runs the manager benchmark end to end on this machine: the test API server and the manager as
# separate release-built processes, then manager-bench against them. To measure another manager
# against a real cluster, run manager-bench directly with its kubeconfig and PID.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product security-profiles-operator
swift build -c release --product kube-test-apiserver
swift build -c release --product manager-bench
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d)
trap 'kill $manager $server 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin/kube-test-apiserver" "$work/kubeconfig" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do [ -f "$work/kubeconfig" ] && break; sleep 0.1; done
OPERATOR_NAMESPACE=security-profiles-operator RELATED_IMAGE_OPERATOR=security-profiles-operator:bench \
    "$bin/security-profiles-operator" manager --kubeconfig "$work/kubeconfig" --no-leader-elect \
    --health-probe-port 0 --log-level warning > "$work/manager.log" 2>&1 &
manager=$!
"$bin/manager-bench" --kubeconfig "$work/kubeconfig" --pid "$manager" "$@"
