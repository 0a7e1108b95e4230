#!/usr/bin/env bash
# Runs the webhook benchmark end to end on this machine: the test API server and the webhook
# role as separate release-built processes, then webhook-bench against them (it seeds 20
# ProfileBindings and 5 ProfileRecordings and posts AdmissionReviews over HTTPS).
#
#   Benchmarks/webhook-bench.sh [--seconds 10] [--rate 200] [--concurrency 16]
set -euo pipefail
cd "$(dirname "$0")/.."
# The operator as the image ships it (hack/build-release.sh, as the Dockerfile).
operator=$(hack/build-release.sh)
swift build -c release --product kube-test-apiserver
swift build -c release --product webhook-bench
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d)
trap 'kill $webhook $server 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin/kube-test-apiserver" "$work/kubeconfig" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do [ -f "$work/kubeconfig" ] && break; sleep 0.1; done

# The serving certificate a Secret would hold: for 127.0.0.1, trusted by the benchmark.
mkdir -p "$work/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$work/certs/tls.key" -out "$work/certs/tls.crt" 2>/dev/null
port=$((20000 + RANDOM % 20000))
OPERATOR_NAMESPACE=security-profiles-operator "$operator" webhook --kubeconfig "$work/kubeconfig" \
    --cert-dir "$work/certs" --host 127.0.0.1 --port "$port" --health-probe-port 0 --log-level warning > "$work/webhook.log" 2>&1 &
webhook=$!
"$bin/webhook-bench" --kubeconfig "$work/kubeconfig" --url "https://127.0.0.1:$port" --ca "$work/certs/tls.crt" --pid "$webhook" "$@"
