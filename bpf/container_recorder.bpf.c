// The eBPF half of the node daemon's container recorder (Sources/SyscallRecorder/ContainerSyscallRecorder.swift,
// used by Sources/SPORecorder/BPFActivity.swift).
//
// Sets one bit per (mount namespace, syscall) for every task outside the host's mount
// namespace, on the sys_enter raw tracepoint attached as tp_btf (no tracefs mount needed; the
// task's fields are read directly). A container's processes share its mount namespace, so the
// daemon reads the bitmap of a container's namespace when it collects the recording, and
// deletes it afterwards. When a namespace is first seen, the name of the task's cgroup (in the
// unified hierarchy: `<id>`, `cri-containerd-<id>.scope`, `crio-<id>.scope`) is kept with it,
// so that the daemon finds a container's namespace by its id also after every process of it
// exited. Tasks of the host namespace cost three field reads and a comparison.
// The object is committed as a Swift byte array; `make bpf` regenerates it.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

// Kernel fields read, relocated against the running kernel's BTF at load time (CO-RE).
struct ns_common {
    unsigned int inum;
} __attribute__((preserve_access_index));

struct mnt_namespace {
    struct ns_common ns;
} __attribute__((preserve_access_index));

struct nsproxy {
    struct mnt_namespace *mnt_ns;
} __attribute__((preserve_access_index));

struct thread_info {
    __u32 status;
} __attribute__((preserve_access_index));

struct kernfs_node {
    const char *name;
} __attribute__((preserve_access_index));

struct cgroup {
    struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct css_set {
    struct cgroup *dfl_cgrp;
} __attribute__((preserve_access_index));

struct task_struct {
    struct thread_info thread_info;
    struct nsproxy *nsproxy;
    struct css_set *cgroups;
} __attribute__((preserve_access_index));

// Slots per architecture; syscall numbers at or above it are set in the last slot.
#define SPO_SYSCALL_SLOTS 1024
// x86: a 32-bit task on a 64-bit kernel (TS_COMPAT in thread_info.status).
#define SPO_TS_COMPAT 0x0002

// Set by the loader before the object is loaded: the host's mount namespace, never recorded.
const volatile __u64 spo_host_mntns = 0;

// Long enough for `cri-containerd-<64 hex>.scope` and its NUL.
#define SPO_CGROUP_NAME 96

// Native syscalls in bits 0-1023, compat ones in 1024-2047; the cgroup name of the namespace's
// first task (empty on a node without the unified hierarchy).
struct spo_bitmap {
    __u64 bits[2 * SPO_SYSCALL_SLOTS / 64];
    char cgroup[SPO_CGROUP_NAME];
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u32);
    __type(value, struct spo_bitmap);
} spo_syscalls SEC(".maps");

struct pt_regs;

SEC("tp_btf/sys_enter")
int BPF_PROG(spo_sys_enter, struct pt_regs *regs, long nr)
{
    struct task_struct *task = bpf_get_current_task_btf();
    struct nsproxy *nsproxy = task->nsproxy;
    if (!nsproxy || nr < 0)
        return 0;
    __u32 mntns = nsproxy->mnt_ns->ns.inum;
    if (mntns == spo_host_mntns || mntns == 0)
        return 0;
    __u32 slot = nr < SPO_SYSCALL_SLOTS ? (__u32)nr : SPO_SYSCALL_SLOTS - 1;
#ifdef __TARGET_ARCH_x86
    if (task->thread_info.status & SPO_TS_COMPAT)
        slot += SPO_SYSCALL_SLOTS;
#endif
    struct spo_bitmap *bitmap = bpf_map_lookup_elem(&spo_syscalls, &mntns);
    if (!bitmap) {
        // Once per namespace: its (container's) cgroup, read through probes.
        struct spo_bitmap empty = {};
        const char *cgroup = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name);
        if (cgroup)
            bpf_probe_read_kernel_str(empty.cgroup, sizeof empty.cgroup, cgroup);
        bpf_map_update_elem(&spo_syscalls, &mntns, &empty, BPF_NOEXIST);
        bitmap = bpf_map_lookup_elem(&spo_syscalls, &mntns);
        if (!bitmap)
            return 0;
    }
    slot &= 2 * SPO_SYSCALL_SLOTS - 1;
    __u64 bit = 1ULL << (slot & 63);
    // Most calls were seen before: a read avoids the atomic's cache-line write.
    if (!(bitmap->bits[slot >> 6] & bit))
        __sync_fetch_and_or(&bitmap->bits[slot >> 6], bit);
    return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
