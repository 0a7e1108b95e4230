#define _GNU_SOURCE
#include "csyscalltrace.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

int csyscalltrace_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

int csyscalltrace_pipe_cloexec(int ends[2]) {
    return pipe2(ends, O_CLOEXEC);
}

int csyscalltrace_traceme(void) {
    return (int)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}

int csyscalltrace_set_options(pid_t pid) {
    long options = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                   PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
    return (int)ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)options);
}

int csyscalltrace_resume(pid_t pid, int signal) {
    return (int)ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(long)signal);
}

int csyscalltrace_syscall_info(pid_t pid, csyscalltrace_syscall *info) {
    struct __ptrace_syscall_info raw;
    memset(&raw, 0, sizeof raw);
    if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof raw, &raw) < 0) return -1;
    info->op = raw.op;
    info->arch = raw.arch;
    info->number = raw.op == PTRACE_SYSCALL_INFO_ENTRY ? raw.entry.nr
                 : raw.op == PTRACE_SYSCALL_INFO_SECCOMP ? raw.seccomp.nr : 0;
    return 0;
}

int csyscalltrace_proc_events_open(void) {
    int fd = socket(PF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);
    if (fd < 0) return -1;
    struct sockaddr_nl address = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC };
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) goto fail;
    enum proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
    char request[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof op)] __attribute__((aligned(NLMSG_ALIGNTO)));
    memset(request, 0, sizeof request);
    struct nlmsghdr *header = (struct nlmsghdr *)request;
    header->nlmsg_len = NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof op);
    header->nlmsg_type = NLMSG_DONE;
    struct cn_msg *message = NLMSG_DATA(header);
    message->id.idx = CN_IDX_PROC;
    message->id.val = CN_VAL_PROC;
    message->len = sizeof op;
    memcpy(message->data, &op, sizeof op);
    if (send(fd, request, header->nlmsg_len, 0) < 0) goto fail;
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int csyscalltrace_proc_events_forks(int fd, int32_t *pairs, int capacity) {
    char buffer[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
    int found = 0;
    for (;;) {
        ssize_t length = recv(fd, buffer, sizeof buffer, 0);
        if (length < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN && found > 0) return found;
            return found > 0 ? found : -1;
        }
        for (struct nlmsghdr *header = (struct nlmsghdr *)buffer; NLMSG_OK(header, (size_t)length);
             header = NLMSG_NEXT(header, length)) {
            struct cn_msg *message = NLMSG_DATA(header);
            if (message->id.idx != CN_IDX_PROC || message->id.val != CN_VAL_PROC) continue;
            struct proc_event *event = (struct proc_event *)message->data;
            if (event->what != PROC_EVENT_FORK || found >= capacity) continue;
            pairs[2 * found] = event->event_data.fork.parent_tgid;
            pairs[2 * found + 1] = event->event_data.fork.child_tgid;
            found++;
        }
        if (found >= capacity) return found;
    }
}

// libbpf messages: the last 4 KiB, so that a failed load can say why.
static char messages[4096];
static size_t messages_length;

static int capture(enum libbpf_print_level level, const char *format, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    char line[1024];
    int n = vsnprintf(line, sizeof line, format, args);
    if (n <= 0) return 0;
    size_t length = strlen(line);
    if (length >= sizeof messages) return 0;
    if (messages_length + length >= sizeof messages) messages_length = 0;
    memcpy(messages + messages_length, line, length + 1);
    messages_length += length;
    return n;
}

void csyscalltrace_capture_libbpf_messages(void) {
    libbpf_set_print(capture);
}

const char *csyscalltrace_take_libbpf_messages(void) {
    static char taken[sizeof messages];
    memcpy(taken, messages, messages_length);
    taken[messages_length] = 0;
    messages_length = 0;
    return taken;
}

struct csyscalltrace_bpf {
    struct bpf_object *object;
    struct bpf_link *links[8];
    int link_count;
};

csyscalltrace_bpf *csyscalltrace_bpf_start(const void *bytes, size_t size, uint64_t target_cgroup) {
    csyscalltrace_bpf *recorder = calloc(1, sizeof *recorder);
    if (!recorder) return NULL;
    LIBBPF_OPTS(bpf_object_open_opts, options, .object_name = "spoc_recorder");
    recorder->object = bpf_object__open_mem(bytes, size, &options);
    if (!recorder->object) goto fail;

    struct bpf_map *map = NULL;
    int configured = 0;
    while ((map = bpf_object__next_map(recorder->object, map))) {
        const char *name = bpf_map__name(map);
        size_t length = strlen(name);
        if (!bpf_map__is_internal(map) || length < 7 || strcmp(name + length - 7, ".rodata") != 0) continue;
        size_t value_size = 0;
        uint64_t *value = (uint64_t *)bpf_map__initial_value(map, &value_size);
        if (!value || value_size < sizeof *value) { errno = EINVAL; goto fail; }
        *value = target_cgroup;
        configured = 1;
    }
    if (!configured) { errno = ENOENT; goto fail; }
    if (bpf_object__load(recorder->object) != 0) goto fail;

    struct bpf_program *program = NULL;
    while ((program = bpf_object__next_program(recorder->object, program))) {
        if (recorder->link_count == (int)(sizeof recorder->links / sizeof recorder->links[0])) { errno = E2BIG; goto fail; }
        struct bpf_link *link = bpf_program__attach(program);
        if (!link) goto fail;
        recorder->links[recorder->link_count++] = link;
    }
    return recorder;

fail:;
    int saved = errno;
    csyscalltrace_bpf_stop(recorder);
    errno = saved ? saved : EINVAL;
    return NULL;
}

int csyscalltrace_bpf_read_counts(csyscalltrace_bpf *recorder, uint64_t *counts, uint32_t count) {
    struct bpf_map *map = NULL;
    while ((map = bpf_object__next_map(recorder->object, map))) {
        const char *name = bpf_map__name(map);
        size_t length = strlen(name);
        if (!bpf_map__is_internal(map) || length < 4 || strcmp(name + length - 4, ".bss") != 0) continue;
        // The whole section is the one value of a one-element array.
        size_t size = bpf_map__value_size(map);
        if (size < count * sizeof *counts) return -EINVAL;
        void *values = malloc(size);
        if (!values) return -ENOMEM;
        uint32_t key = 0;
        int rc = bpf_map_lookup_elem(bpf_map__fd(map), &key, values) == 0 ? 0 : -errno;
        if (rc == 0) memcpy(counts, values, count * sizeof *counts);
        free(values);
        return rc;
    }
    return -ENOENT;
}

void csyscalltrace_bpf_stop(csyscalltrace_bpf *recorder) {
    if (!recorder) return;
    for (int i = 0; i < recorder->link_count; i++) bpf_link__destroy(recorder->links[i]);
    if (recorder->object) bpf_object__close(recorder->object);
    free(recorder);
}

static int container_map(csyscalltrace_bpf *recorder) {
    struct bpf_map *map = bpf_object__find_map_by_name(recorder->object, "spo_syscalls");
    return map ? bpf_map__fd(map) : -ENOENT;
}

// The map's value, as bpf/container_recorder.bpf.c lays it out.
struct container_entry {
    uint64_t bits[32];
    char cgroup[CSYSCALLTRACE_CGROUP_NAME];
};

int csyscalltrace_bpf_namespace_bits(csyscalltrace_bpf *recorder, uint32_t mntns, uint64_t *bits, char *cgroup) {
    struct bpf_map *map = bpf_object__find_map_by_name(recorder->object, "spo_syscalls");
    if (!map) return -ENOENT;
    if (bpf_map__value_size(map) != sizeof(struct container_entry)) return -EINVAL;
    struct container_entry entry;
    if (bpf_map_lookup_elem(bpf_map__fd(map), &mntns, &entry) != 0) return -errno;
    memcpy(bits, entry.bits, sizeof entry.bits);
    if (cgroup) {
        memcpy(cgroup, entry.cgroup, sizeof entry.cgroup);
        cgroup[sizeof entry.cgroup - 1] = 0;
    }
    return 0;
}

int csyscalltrace_bpf_forget_namespace(csyscalltrace_bpf *recorder, uint32_t mntns) {
    int fd = container_map(recorder);
    if (fd < 0) return fd;
    return bpf_map_delete_elem(fd, &mntns) == 0 ? 0 : -errno;
}

int csyscalltrace_bpf_namespaces(csyscalltrace_bpf *recorder, uint32_t *keys, int capacity) {
    int fd = container_map(recorder);
    if (fd < 0) return fd;
    int count = 0;
    uint32_t key, next;
    uint32_t *previous = NULL;
    while (count < capacity && bpf_map_get_next_key(fd, previous, &next) == 0) {
        keys[count++] = next;
        key = next;
        previous = &key;
    }
    return count;
}
