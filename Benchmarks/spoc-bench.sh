#!/usr/bin/env bash
# Recording overhead of spoc: the wall time of 1,000,000 getppid calls (the loop's own timing,
# so that recorder start-up is reported separately) unrecorded, recorded with eBPF and with
# ptrace, as ratios; plus the whole command's wall time under each. Needs root for eBPF.
#   Benchmarks/spoc-bench.sh [calls] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-1000000}
runs=${2:-7}
swift build -c release --product spoc >/dev/null
swift build -c release --product syscall-loop >/dev/null
bin=$(swift build -c release --show-bin-path)
spoc=$bin/spoc loop=$bin/syscall-loop
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# median of numbers on stdin
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now() { date +%s%N; }

measure() { # name, runs, command...
    local name=$1 n=$2; shift 2
    : >"$work/$name.loop"; : >"$work/$name.wall"
    for _ in $(seq "$n"); do
        local start end
        start=$(now)
        "$@" 2>/dev/null | tail -1 >>"$work/$name.loop"
        end=$(now)
        echo $((end - start)) >>"$work/$name.wall"
    done
    loop_ns=$(median <"$work/$name.loop")
    wall_ns=$(median <"$work/$name.wall")
    if [ "${loop_ns%.*}" -gt 0 ] 2>/dev/null && [ "$name" = "${name#find}" ]; then
        printf '%-10s loop %8.1f ms (%5.1f ns/call)   whole command %8.1f ms\n' "$name" \
            "$(echo "$loop_ns / 1000000" | bc -l)" "$(echo "$loop_ns / $calls" | bc -l)" "$(echo "$wall_ns / 1000000" | bc -l)"
    else
        printf '%-10s whole command %8.1f ms\n' "$name" "$(echo "$wall_ns / 1000000" | bc -l)"
    fi
    eval "${name}_loop=$loop_ns ${name}_wall=$wall_ns"
}

echo "spoc recording overhead: $calls getppid calls, median of $runs runs ($(nproc) cores, $(uname -r))"
measure plain "$runs" "$loop" "$calls"
measure ebpf "$runs" "$spoc" record --recorder ebpf --format json -o "$work/ebpf.json" -- "$loop" "$calls"
measure ptrace $(( runs < 3 ? runs : 3 )) "$spoc" record --recorder ptrace --format json -o "$work/ptrace.json" -- "$loop" "$calls"
printf 'ratio (loop)  ebpf %.3fx   ptrace %.1fx\n' "$(echo "$ebpf_loop / $plain_loop" | bc -l)" "$(echo "$ptrace_loop / $plain_loop" | bc -l)"
printf 'ratio (whole) ebpf %.3fx   ptrace %.1fx\n' "$(echo "$ebpf_wall / $plain_wall" | bc -l)" "$(echo "$ptrace_wall / $plain_wall" | bc -l)"
"$spoc" diff "$work/ebpf.json" "$work/ptrace.json" >/dev/null && echo "both recorders wrote the same profile"

# A real command for scale: walking /usr (stat- and getdents-heavy), whole wall time.
echo "find /usr -xdev (whole command, median of $runs runs):"
measure find_plain "$runs" find /usr -xdev -printf ''
measure find_ebpf "$runs" "$spoc" record --recorder ebpf --format json -o "$work/find.json" -- find /usr -xdev -printf ''
printf 'ratio (whole) ebpf %.3fx\n' "$(echo "$find_ebpf_wall / $find_plain_wall" | bc -l)"
