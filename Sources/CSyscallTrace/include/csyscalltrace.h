// ptrace and libbpf for the syscall recorder: what Swift cannot call directly (ptrace is
// variadic, libbpf reports errors through a va_list print callback and errno).
#ifndef CSYSCALLTRACE_H
#define CSYSCALLTRACE_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#include <spawn.h>

// posix_spawn

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+, not exported to Swift): the child
/// closes every descriptor from `lowest` up.
int csyscalltrace_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest);

/// pipe2(ends, O_CLOEXEC) (not exported to Swift without _GNU_SOURCE).
int csyscalltrace_pipe_cloexec(int ends[2]);

// ptrace(2)

/// PTRACE_TRACEME: the calling process is traced by its parent from its next execve on.
int csyscalltrace_traceme(void);
/// PTRACE_SETOPTIONS with the recorder's options: syscall stops marked with 0x80, fork, vfork,
/// clone and exec followed, tracees killed when the tracer exits.
int csyscalltrace_set_options(pid_t pid);
/// PTRACE_SYSCALL: resume until the next syscall entry or exit, delivering `signal`.
int csyscalltrace_resume(pid_t pid, int signal);

/// What PTRACE_GET_SYSCALL_INFO says about a syscall stop.
typedef struct {
    /// 1 at syscall entry, 2 at exit, 3 at a seccomp stop, 0 otherwise.
    uint8_t op;
    /// AUDIT_ARCH_* of the syscall (which numbering `number` uses).
    uint32_t arch;
    uint64_t number;
} csyscalltrace_syscall;

/// 0 and `info` filled, or -1 with errno.
int csyscalltrace_syscall_info(pid_t pid, csyscalltrace_syscall *info);

// The proc connector (netlink): fork events, to know a command's descendants.

/// A socket subscribed to process events (needs CAP_NET_ADMIN), non-blocking; -1 with errno.
int csyscalltrace_proc_events_open(void);
/// Reads the pending events and stores up to `capacity` forks as (parent tgid, child tgid)
/// pairs in `pairs`; returns how many, or -1 with errno (EAGAIN: none pending).
int csyscalltrace_proc_events_forks(int socket, int32_t *pairs, int capacity);

// libbpf

/// Sends libbpf's messages to a buffer instead of stderr; the last lines are kept.
void csyscalltrace_capture_libbpf_messages(void);
/// The captured messages (NUL-terminated), then empties the buffer.
const char *csyscalltrace_take_libbpf_messages(void);

/// A loaded and attached BPF object of the recorder.
typedef struct csyscalltrace_bpf csyscalltrace_bpf;

/// Opens the object in `bytes`, sets the read-only global `spoc_target_cgroup`, loads it
/// and attaches every program. NULL with errno on failure (see the captured messages).
csyscalltrace_bpf *csyscalltrace_bpf_start(const void *bytes, size_t size, uint64_t target_cgroup);
/// Copies the first `count` counters of the global `spoc_syscalls` (the .bss map). 0 or -errno.
int csyscalltrace_bpf_read_counts(csyscalltrace_bpf *recorder, uint64_t *counts, uint32_t count);
/// Detaches the programs and frees everything.
void csyscalltrace_bpf_stop(csyscalltrace_bpf *recorder);

// The container recorder's hash map `spo_syscalls`: mount namespace → 2048-bit syscall bitmap
// and the cgroup name of the namespace's first task.

/// The cgroup name's size in an entry (with its NUL).
#define CSYSCALLTRACE_CGROUP_NAME 96

/// Copies the bitmap of `mntns` (32 words) into `bits` and, when `cgroup` is not NULL, its
/// cgroup name (NUL-terminated, at most CSYSCALLTRACE_CGROUP_NAME bytes). 0, -ENOENT when the
/// namespace made no call since the program was attached (or since its entry was deleted), or
/// -errno.
int csyscalltrace_bpf_namespace_bits(csyscalltrace_bpf *recorder, uint32_t mntns, uint64_t *bits, char *cgroup);
/// Deletes the entry of `mntns`. 0 or -errno (-ENOENT when there is none).
int csyscalltrace_bpf_forget_namespace(csyscalltrace_bpf *recorder, uint32_t mntns);
/// Stores up to `capacity` namespaces that have entries in `keys`; returns how many, or -errno.
int csyscalltrace_bpf_namespaces(csyscalltrace_bpf *recorder, uint32_t *keys, int capacity);

#endif
