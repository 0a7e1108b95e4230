// The eBPF half of the syscall recorder (Sources/SyscallRecorder/BPFRecorder.swift).
//
// Counts the syscalls made by every task of one cgroup v2 (the recorded command and all its
// descendants) on the sys_enter raw tracepoint, attached as tp_btf (the BTF-typed form of
// raw_tp/sys_enter: no tracefs mount needed, and the task's fields are read directly rather
// than through bpf_probe_read, which cost ~50 ns per recorded call). Tasks of other cgroups
// cost one helper call and a comparison. The object is committed as a Swift byte array;
// `make bpf` regenerates it (clang -target bpf, headers from libbpf-dev).
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

// The two kernel fields read, relocated against the running kernel's BTF at load time (CO-RE),
// so no vmlinux.h is needed.
struct thread_info {
    __u32 status;
} __attribute__((preserve_access_index));

struct task_struct {
    struct thread_info thread_info;
} __attribute__((preserve_access_index));

// Slots per architecture; syscall numbers at or above it are counted in the last slot.
#define SPOC_SYSCALL_SLOTS 1024
// x86: a 32-bit task on a 64-bit kernel (TS_COMPAT in thread_info.status).
#define SPOC_TS_COMPAT 0x0002

// Set by the loader before the object is loaded: the id (inode) of the recorded cgroup.
const volatile __u64 spoc_target_cgroup = 0;

// Calls seen, at compat * SPOC_SYSCALL_SLOTS + syscall number. A global in .bss (one map
// value): reading it back is one lookup, and counting needs no map lookup helper.
__u64 spoc_syscalls[2 * SPOC_SYSCALL_SLOTS];

struct pt_regs;

SEC("tp_btf/sys_enter")
int BPF_PROG(spoc_sys_enter, struct pt_regs *regs, long nr)
{
    if (bpf_get_current_cgroup_id() != spoc_target_cgroup)
        return 0;
    if (nr < 0)
        return 0;
    __u32 slot = nr < SPOC_SYSCALL_SLOTS ? (__u32)nr : SPOC_SYSCALL_SLOTS - 1;
#ifdef __TARGET_ARCH_x86
    struct task_struct *task = bpf_get_current_task_btf();
    if (task->thread_info.status & SPOC_TS_COMPAT)
        slot += SPOC_SYSCALL_SLOTS;
#endif
    __sync_fetch_and_add(&spoc_syscalls[slot & (2 * SPOC_SYSCALL_SLOTS - 1)], 1);
    return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
