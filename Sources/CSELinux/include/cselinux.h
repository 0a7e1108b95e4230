// libsemanage for Swift: a policy store session whose messages are captured (libsemanage's
// message callback is variadic, which Swift cannot implement).
#ifndef CSELINUX_H
#define CSELINUX_H

#include <stddef.h>
#include <stdint.h>

/// A connected libsemanage handle with its captured messages.
typedef struct cselinux_store cselinux_store;

/// Connects to policy store `store` (e.g. "default") under `root` ("/" on a node; a test root
/// holding var/lib/selinux/<store>). `reload`: load the rebuilt policy into the kernel after a
/// commit. NULL on failure, with the reason in `error`. libsemanage's root is process-wide:
/// callers serialise sessions.
cselinux_store *cselinux_store_open(const char *root, const char *store, int reload, char *error, size_t error_size);
/// Adds installing a CIL module named `name` to the transaction. 0, or -1 (see messages).
int cselinux_store_install(cselinux_store *store, const char *name, const char *cil, size_t length);
/// Adds removing module `name` to the transaction. 0, or -1.
int cselinux_store_remove(cselinux_store *store, const char *name);
/// Commits the transaction (rebuilds the policy). >= 0 on success, < 0 on failure.
int cselinux_store_commit(cselinux_store *store);
/// The installed modules' names, one per line (malloc'd; free it), or NULL.
char *cselinux_store_modules(cselinux_store *store);
/// The modules installed at `priority` (400 is what `semodule -i` and libsemanage use by
/// default) with their source as installed: a malloc'd buffer of NUL-terminated name and source
/// strings, alternating, `*length` bytes in all (free it). NULL on failure.
char *cselinux_store_sources(cselinux_store *store, uint16_t priority, size_t *length);
/// The error and warning messages since the last call (owned by the store).
const char *cselinux_store_take_messages(cselinux_store *store);
/// Disconnects and frees.
void cselinux_store_close(cselinux_store *store);

/// 1 when the kernel runs SELinux (is_selinux_enabled).
int cselinux_kernel_enabled(void);

#endif
