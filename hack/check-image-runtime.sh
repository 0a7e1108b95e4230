#!/usr/bin/env bash
# Checks the image's runtime stage without a container engine (none runs on the build machines):
# a debootstrapped Debian bookworm root with the packages the Dockerfile's runtime stage installs
# and the binary as its build stage makes it (release, Swift runtime linked statically,
# stripped), then in that root:
#   1. every library the binary links resolves;
#   2. as the image's user (65532) the binary starts: `version`;
#   3. as the DaemonSet's `bpf-recorder` container runs (root, the host's PID namespace, /proc and
#      /sys), the recorder records a "container" for a bpf ProfileRecording against a test API
#      server on the host: a process in its own mount namespace and in a cgroup named by a
#      containerd-style id, which calls mkdir. The SeccompProfile it writes must contain mkdir:
#      the image's libbpf and libelf load the committed eBPF object with CO-RE.
#
#   sudo hack/check-image-runtime.sh        # ROOT=DIR to reuse another root (default .build-image-root)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap, chroot, cgroups, BPF)" >&2; exit 1; }
root=${ROOT:-$PWD/.build-image-root}
packages="ca-certificates libseccomp2 libapparmor1 libsemanage2 libbpf1 apparmor"   # the Dockerfile's runtime stage

step() { echo "== $*"; }
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
if [ ! -x "$root/usr/bin/apt-get" ]; then
    step "debootstrap bookworm (minbase) into $root"
    debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
fi
step "runtime stage packages: $packages"
chroot "$root" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null"

step "release binary (static Swift runtime, stripped) and the test API server"
operator=$(hack/build-release.sh 2> >(tail -1 >&2))
swift build -c release --product kube-test-apiserver 2>&1 | tail -1
install -D -s "$operator" "$root/usr/bin/security-profiles-operator"
server_bin="$(swift build -c release --show-bin-path)/kube-test-apiserver"

# A container always has /proc (Swift reads its arguments from /proc/self/cmdline), and the
# bpf-recorder container the host's /sys (BTF for CO-RE, cgroups) and /dev.
cleanup_mounts() { for mount in "$root/sys" "$root/proc" "$root/dev"; do umount -R "$mount" 2>/dev/null || true; done; }
trap cleanup_mounts EXIT
for mount in proc sys dev; do mkdir -p "$root/$mount"; mount --rbind "/$mount" "$root/$mount"; done

step "1. libraries"
if chroot "$root" ldd /usr/bin/security-profiles-operator | grep 'not found'; then echo "FAIL: unresolved libraries" >&2; exit 1; fi
chroot "$root" ldd /usr/bin/security-profiles-operator | grep -E 'libbpf|libelf|libseccomp|libapparmor|libsemanage' | sed 's/^/   /'

step "2. as uid 65532"
chroot --userspec=65532:65532 "$root" /usr/bin/security-profiles-operator version

step "3. bpf-recorder records a container"
work=$(mktemp -d)
id=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cgroup=/sys/fs/cgroup/unified
[ -d "$cgroup" ] || cgroup=/sys/fs/cgroup
container_cgroup="$cgroup/spo-image-check/$id"
server="" recorder="" workload=""
cleanup() {
    kill $recorder $workload $server 2>/dev/null || true
    # Every process of the "container", also the shell's children.
    for _ in $(seq 50); do
        pids=$(cat "$container_cgroup/cgroup.procs" 2>/dev/null || true)
        [ -z "$pids" ] && break
        kill $pids 2>/dev/null || true
        sleep 0.1
    done
    wait 2>/dev/null || true
    cleanup_mounts
    rmdir "$container_cgroup" "$cgroup/spo-image-check" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$server_bin" "$work/kubeconfig" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do [ -f "$work/kubeconfig" ] && break; sleep 0.1; done
api=$(sed -n 's/.*server: "\([^"]*\)".*/\1/p' "$work/kubeconfig")
call() { curl -sf -X "$1" -H 'Content-Type: application/json' "$api$2" ${3:+-d "$3"}; }
call POST /apis/security-profiles-operator.x-k8s.io/v1alpha1/namespaces/default/profilerecordings \
    '{"apiVersion":"security-profiles-operator.x-k8s.io/v1alpha1","kind":"ProfileRecording","metadata":{"name":"rec","namespace":"default"},"spec":{"kind":"SeccompProfile","recorder":"bpf","podSelector":{}}}' >/dev/null

# The container: its own mount namespace and a cgroup named by its id, as containerd makes them.
mkdir -p "$container_cgroup"
unshare --mount sh -c "echo \$\$ > $container_cgroup/cgroup.procs; sleep 3; mkdir /tmp/spo-image-check-\$\$; rmdir /tmp/spo-image-check-\$\$; sleep 600" &
workload=$!
call POST /api/v1/namespaces/default/pods \
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"app\",\"namespace\":\"default\",\"annotations\":{\"io.containers.trace-bpf/app\":\"rec_app_abcde_1700000000\"}},\"spec\":{\"nodeName\":\"image-check\",\"containers\":[{\"name\":\"app\",\"image\":\"busybox\"}]}}" >/dev/null
call PUT /api/v1/namespaces/default/pods/app/status \
    "$(call GET /api/v1/namespaces/default/pods/app | python3 -c "import json,sys; p=json.load(sys.stdin); p['status']={'phase':'Running','containerStatuses':[{'name':'app','containerID':'containerd://$id'}]}; print(json.dumps(p))")" >/dev/null

cp "$work/kubeconfig" "$root/tmp/kubeconfig"
chroot "$root" env NODE_NAME=image-check OPERATOR_NAMESPACE=security-profiles-operator /usr/bin/security-profiles-operator bpf-recorder \
    --kubeconfig /tmp/kubeconfig --with-logs-recorder=false --recording-state-dir /tmp/recordings \
    --health-probe-port 0 --metrics-port 0 > "$work/recorder.log" 2>&1 &
recorder=$!
for _ in $(seq 300); do grep -q '"recorder.pod.started"' "$work/recorder.log" && break; sleep 0.1; done
grep -q '"recorder.pod.started"' "$work/recorder.log" || { echo "FAIL: the recorder did not start recording" >&2; cat "$work/recorder.log" >&2; exit 1; }
sleep 5   # the workload's mkdir
call DELETE /api/v1/namespaces/default/pods/app >/dev/null
profile=""
for _ in $(seq 300); do
    profile=$(call GET /apis/security-profiles-operator.x-k8s.io/v1beta1/namespaces/default/seccompprofiles/rec-app 2>/dev/null || true)
    [ -n "$profile" ] && break
    sleep 0.1
done
if grep -q '"recorder.problem"' "$work/recorder.log"; then echo "FAIL:" >&2; grep '"recorder.problem"' "$work/recorder.log" >&2; exit 1; fi
[ -n "$profile" ] || { echo "FAIL: no SeccompProfile rec-app" >&2; cat "$work/recorder.log" >&2; exit 1; }
echo "$profile" | python3 -c "
import json, sys
names = json.load(sys.stdin)['spec']['syscalls'][0]['names']
print('   SeccompProfile rec-app:', len(names), 'syscalls; mkdir:', 'mkdir' in names)
sys.exit(0 if 'mkdir' in names else 1)"
echo "OK: the runtime stage runs every role's binary; its libbpf loads the recorder"
