#!/usr/bin/env bash
# Records the syscalls an OCI runtime and a busybox container make from the moment the
# container's seccomp filter is loaded: runs `sleep 1` in a busybox container whose filter
# logs every syscall (SCMP_ACT_LOG) and reads the kernel's seccomp log lines.
#
#   hack/record-runtime-profile.sh runc     # or crun; needs root, busybox-static and the runtime
#
# Prints the sorted syscall names, one per line. Sources/SeccompKit/BuiltInProfiles.swift
# holds the lists this produced on the project's build machine.
set -euo pipefail
runtime=${1:?usage: $0 runc|crun}
command -v "$runtime" >/dev/null || { echo "$runtime is not installed" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "busybox-static is not installed" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/busybox"
for tool in sh sleep; do ln -s busybox "$work/rootfs/bin/$tool"; done
cd "$work"
"$runtime" spec
python3 - <<'PY'
import json
config = json.load(open("config.json"))
config["process"]["terminal"] = False
config["process"]["args"] = ["/bin/sleep", "1"]
config["root"]["readonly"] = False
config["process"].pop("rlimits", None)  # raising limits needs CAP_SYS_RESOURCE, which build machines lack
config["linux"].pop("resources", None)  # no device cgroup: crun would load a BPF program, which needs a higher RLIMIT_MEMLOCK
config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"]}
json.dump(config, open("config.json", "w"))
PY

# crun refuses v1/v2 hybrid cgroup hosts: give it a private mount of the unified hierarchy.
launcher=("$runtime")
if [ "$runtime" = crun ] && [ -d /sys/fs/cgroup/unified ]; then
    launcher=(unshare --mount sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec crun "$@"' crun)
fi

# Every logged syscall must reach the kernel log. Which calls the runtime's Go or C runtime
# makes after the filter is loaded varies between runs, so the container runs RUNS times
# (default 3) and the union is kept. The kernel log is cleared before each run (it is a ring
# buffer that a long recording would overflow) and read after it.
ratelimit=$(sysctl -n kernel.printk_ratelimit)
sysctl -qw kernel.printk_ratelimit=0
: > numbers.txt
for run in $(seq "${RUNS:-3}"); do
    dmesg -C
    "${launcher[@]}" run "spo-record-$$-$run" >/dev/null
    dmesg | grep -o 'type=1326.*' | grep -o ' syscall=[0-9]*' | cut -d= -f2 >> numbers.txt
done
sysctl -qw kernel.printk_ratelimit="$ratelimit"
numbers=$(sort -un numbers.txt)

cat > resolve.c <<'C'
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, atoi(argv[i]));
        if (name) { printf("%s\n", name); free(name); }
    }
    return 0;
}
C
cc resolve.c -o resolve -lseccomp
# shellcheck disable=SC2086
./resolve $numbers | sort -u
