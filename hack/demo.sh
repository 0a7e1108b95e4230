#!/usr/bin/env bash
# The README's first command (`make demo`): runs the node daemon without a cluster on
# examples/, shows the profiles it installed, and runs a command that one of them blocks.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/debug/security-profiles-operator
kubelet=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$kubelet"
}
trap cleanup EXIT

echo "== 1. The daemon, standalone, installs the SeccompProfiles of examples/ under $kubelet"
"$bin" daemon --standalone --manifests examples --kubelet-dir "$kubelet" --health-probe-port 0 --log-format text &
pid=$!
profile="$kubelet/seccomp/operator/default/no-mkdir.json"
for _ in $(seq 300); do [ -f "$profile" ] && break; sleep 0.1; done
[ -f "$profile" ] || { echo "the daemon did not install $profile" >&2; exit 1; }
sleep 0.5

echo
echo "== 2. Installed profiles (what kubelet reads for localhostProfile: operator/<namespace>/<name>.json)"
(cd "$kubelet/seccomp" && find operator -name '*.json' | sort | while read -r file; do
    printf '%s\n    %s\n' "$file" "$(head -c 160 "$file")"
done)

echo
echo "== 3. mkdir under operator/default/no-mkdir.json is denied by the kernel"
if "$bin" seccomp-exec --profile "$profile" -- mkdir "$kubelet/demo-dir"; then
    echo "unexpected: mkdir succeeded" >&2
    exit 1
fi
echo "== 4. ... while everything else runs"
"$bin" seccomp-exec --profile "$profile" -- ls examples

echo
echo "== 5. Stopping the daemon (SIGTERM)"
kill -TERM "$pid"
wait "$pid"
pid=
echo "done"
