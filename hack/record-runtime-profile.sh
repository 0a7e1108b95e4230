#!/usr/bin/env bash
# Records the syscalls an OCI runtime makes after it has loaded a container's seccomp filter,
# on the code paths a kubelet really takes: the filter logs every syscall (SCMP_ACT_LOG) and
# the kernel's seccomp log lines of the runtime's own init process (executable "/": runc's
# `runc:[2:INIT]`, crun's pre-exec child) are kept; the container command's lines are not.
#
#   sudo RUNS=30 hack/record-runtime-profile.sh runc     # or crun; needs busybox-static and the runtime
#
# The container's standard streams are a file, as containerd's and CRI-O's are FIFOs (runc
# hands them to a non-root user with fchown; it leaves /dev/null alone). Variants, each run
# RUNS times (default 3); calls of the Go runtime in runc's init (signal returns after a
# preemption signal) only show up in some runs, so record 30 times under CPU load:
#   run-nnp          `<runtime> run`, noNewPrivileges true, root: the filter is loaded last
#   create-start     `create` + `start` (the exec fifo, as containerd and CRI-O use them),
#                    noNewPrivileges false (Kubernetes' default), root, the default capabilities
#   create-start-user  the same as uid 1000, gid 1000, supplementary groups 10 and 20, with
#                    NET_ADMIN added and every default capability but CHOWN dropped
#   create-start-nnp-user  noNewPrivileges true, uid 1000, supplementary group 10
#   exec             `exec` as uid 1000 into a running container (kubectl exec, exec probes)
#
# Prints the sorted union of the runtime's syscall names, one per line; with VERBOSE=1 also
# each variant's names and the command's own names on stderr. The built-in base profiles in
# Sources/SeccompKit/BuiltInProfiles.swift are this output.
set -euo pipefail
runtime=${1:?usage: $0 runc|crun}
command -v "$runtime" >/dev/null || { echo "$runtime is not installed" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "busybox-static is not installed" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

work=$(mktemp -d)
ratelimit=$(sysctl -n kernel.printk_ratelimit)
# Every logged syscall must reach the kernel log; the setting comes back on exit.
trap 'sysctl -qw kernel.printk_ratelimit="$ratelimit"; "$runtime" delete -f "spo-record-$$-exec" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
sysctl -qw kernel.printk_ratelimit=0

cat > "$work/resolve.c" <<'C'
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
cc "$work/resolve.c" -o "$work/resolve" -lseccomp

# crun refuses v1/v2 hybrid cgroup hosts: give it a private mount of the unified hierarchy.
launch() {
    if [ "$runtime" = crun ] && [ -d /sys/fs/cgroup/unified ]; then
        unshare --mount sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"' sh "$@"
    else
        "$@"
    fi
}

# bundle DIR NNP USER_JSON CAPS_JSON ARGS_JSON
bundle() {
    local dir=$1
    rm -rf "$dir"
    mkdir -p "$dir/rootfs/bin" "$dir/rootfs/tmp"
    chmod 1777 "$dir/rootfs/tmp"
    cp /bin/busybox "$dir/rootfs/bin/busybox"
    for tool in sh sleep true; do ln -s busybox "$dir/rootfs/bin/$tool"; done
    (cd "$dir" && "$runtime" spec)
    python3 - "$dir/config.json" "$2" "$3" "$4" "$5" <<'PY'
import json, sys
path, nnp, user, caps, args = sys.argv[1:]
config = json.load(open(path))
process = config["process"]
process["terminal"] = False
process["args"] = json.loads(args)
process["noNewPrivileges"] = nnp == "true"
if user != "null": process["user"] = json.loads(user)
if caps != "null": process["capabilities"] = {k: json.loads(caps) for k in ("bounding", "effective", "permitted")}
process.pop("rlimits", None)        # raising limits needs CAP_SYS_RESOURCE, which build machines lack
config["root"]["readonly"] = False
config["linux"].pop("resources", None)  # crun would load a device-cgroup BPF program
config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"]}
json.dump(config, open(path, "w"))
PY
}

# Syscall numbers of the runtime's init (exe "/") and of the command, from the kernel log.
collect() {
    local log
    log=$(dmesg | grep -o 'type=1326.*' || true)
    grep 'exe="/" ' <<<"$log" | grep -o ' syscall=[0-9]*' | cut -d= -f2 >> "$work/$1.runtime" || true
    grep -v 'exe="/" ' <<<"$log" | grep -o ' syscall=[0-9]*' | cut -d= -f2 >> "$work/$1.command" || true
}

user='{"uid":1000,"gid":1000,"additionalGids":[10,20]}'
caps='["CAP_CHOWN","CAP_NET_ADMIN"]'
variants=(run-nnp create-start create-start-user create-start-nnp-user exec)
for variant in "${variants[@]}"; do
    : > "$work/$variant.runtime"
    : > "$work/$variant.command"
    for run in $(seq "${RUNS:-3}"); do
        id="spo-record-$$-$run"
        dir="$work/bundle"
        dmesg -C
        case $variant in
            run-nnp)
                bundle "$dir" true null null '["/bin/true"]'
                launch "$runtime" run --bundle "$dir" "$id" </dev/null >/dev/null ;;
            create-start|create-start-user|create-start-nnp-user)
                case $variant in
                    create-start) bundle "$dir" false null null '["/bin/true"]' ;;
                    create-start-user) bundle "$dir" false "$user" "$caps" '["/bin/true"]' ;;
                    *) bundle "$dir" true '{"uid":1000,"gid":1000,"additionalGids":[10]}' null '["/bin/true"]' ;;
                esac
                launch sh -c '"$1" create --bundle "$2" "$3" && "$1" start "$3" && sleep 0.3; "$1" delete -f "$3"' sh \
                    "$runtime" "$dir" "$id" </dev/null >"$work/stdio" 2>&1 ;;
            exec)
                bundle "$dir" false null null '["/bin/sleep","2"]'
                launch sh -c '"$1" run -d --bundle "$2" "$3" && sleep 0.2 && dmesg -C &&
                    "$1" exec --user 1000:1000 "$3" /bin/true; "$1" delete -f "$3"' sh "$runtime" "$dir" "$id" </dev/null >"$work/stdio" 2>&1 ;;
        esac
        collect "$variant"
    done
    if [ "${VERBOSE:-0}" = 1 ]; then
        # shellcheck disable=SC2046
        echo "$variant: $("$work/resolve" $(sort -un "$work/$variant.runtime") | tr '\n' ' ')" >&2
        # shellcheck disable=SC2046
        echo "$variant (command): $("$work/resolve" $(sort -un "$work/$variant.command") | tr '\n' ' ')" >&2
    fi
done
# shellcheck disable=SC2046
"$work/resolve" $(cat "$work"/*.runtime | sort -un) | sort -u
