// libseccomp for Swift: the header plus wrappers for what Swift cannot import
// (function-like macros).
#include <seccomp.h>
#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <linux/seccomp.h>

static inline uint32_t cseccomp_act_errno(uint16_t errno_value) { return SCMP_ACT_ERRNO(errno_value); }
static inline uint32_t cseccomp_act_trace(uint16_t message) { return SCMP_ACT_TRACE(message); }
static inline uint32_t cseccomp_act_allow(void) { return SCMP_ACT_ALLOW; }
static inline uint32_t cseccomp_act_log(void) { return SCMP_ACT_LOG; }
static inline uint32_t cseccomp_act_notify(void) { return SCMP_ACT_NOTIFY; }
static inline uint32_t cseccomp_act_kill_process(void) { return SCMP_ACT_KILL_PROCESS; }
static inline uint32_t cseccomp_act_kill_thread(void) { return SCMP_ACT_KILL_THREAD; }
static inline uint32_t cseccomp_act_trap(void) { return SCMP_ACT_TRAP; }
static inline int cseccomp_error_syscall(void) { return __NR_SCMP_ERROR; }

// Kernel support for seccomp filters, as runc checks it (prctl is variadic, so not importable):
// 1 when PR_SET_SECCOMP in filter mode rejects a null program with EFAULT.
static inline int cseccomp_kernel_supports_filters(void) {
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL) return 0;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL, 0, 0) < 0 && errno == EFAULT) return 1;
    return 0;
}
