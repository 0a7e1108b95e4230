// The eBPF half of the syscall recorder (Sources/SyscallRecorder/BPFRecorder.swift).
//
// Counts the syscalls made by every task of one cgroup v2 (the recorded command and all its
// descendants): a raw tracepoint on sys_enter, so that no tracefs mount is needed. Tasks of
// other cgroups cost one helper call and a comparison. The object is committed as a Swift
// byte array; `make bpf` regenerates it (clang -target bpf, headers from libbpf-dev).
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

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

// Index = compat * SPOC_SYSCALL_SLOTS + syscall number; value = calls seen.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2 * SPOC_SYSCALL_SLOTS);
    __type(key, __u32);
    __type(value, __u64);
} spoc_syscalls SEC(".maps");

SEC("raw_tp/sys_enter")
int spoc_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
    if (bpf_get_current_cgroup_id() != spoc_target_cgroup)
        return 0;
    long nr = (long)ctx->args[1];
    if (nr < 0)
        return 0;
    __u32 slot = nr < SPOC_SYSCALL_SLOTS ? (__u32)nr : SPOC_SYSCALL_SLOTS - 1;
#ifdef __TARGET_ARCH_x86
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    __u32 status = BPF_CORE_READ(task, thread_info.status);
    if (status & SPOC_TS_COMPAT)
        slot += SPOC_SYSCALL_SLOTS;
#endif
    __u64 *count = bpf_map_lookup_elem(&spoc_syscalls, &slot);
    if (count)
        __sync_fetch_and_add(count, 1);
    return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
