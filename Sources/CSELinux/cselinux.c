#include "cselinux.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <selinux/selinux.h>
#include <semanage/semanage.h>
#include <sepol/cil/cil.h>

struct cselinux_store {
    semanage_handle_t *handle;
    char messages[8192];
    size_t length;
    char taken[8192];
};

static void append(cselinux_store *store, const char *line) {
    size_t length = strlen(line);
    while (length > 0 && line[length - 1] == '\n') length--;
    if (length == 0 || length + 2 >= sizeof store->messages) return;
    if (store->length + length + 2 >= sizeof store->messages) store->length = 0;
    if (store->length > 0) store->messages[store->length++] = '\n';
    memcpy(store->messages + store->length, line, length);
    store->length += length;
    store->messages[store->length] = 0;
}

static void capture(void *argument, semanage_handle_t *handle, const char *format, ...) {
    int level = semanage_msg_get_level(handle);
    if (level != SEMANAGE_MSG_ERR && level != SEMANAGE_MSG_WARN) return;
    char line[2048];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (n > 0) append(argument, line);
}

// The CIL compiler (in libsepol) logs through one process-wide handler, not libsemanage's
// callback: its messages go to the session that is open (sessions never overlap).
static cselinux_store *current;

static void capture_cil(int level, const char *message) {
    if (current && level <= CIL_WARN) append(current, message);
}

cselinux_store *cselinux_store_open(const char *root, const char *name, int reload, char *error, size_t error_size) {
    cselinux_store *store = calloc(1, sizeof *store);
    if (!store) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    if (semanage_set_root(root) != 0) {
        snprintf(error, error_size, "cannot use %s as the policy root", root);
        free(store);
        return NULL;
    }
    store->handle = semanage_handle_create();
    if (!store->handle) {
        snprintf(error, error_size, "cannot create a libsemanage handle");
        free(store);
        return NULL;
    }
    semanage_msg_set_callback(store->handle, capture, store);
    current = store;
    cil_set_log_handler(capture_cil);
    char *store_name = strdup(name);
    semanage_select_store(store->handle, store_name, SEMANAGE_CON_DIRECT);
    free(store_name);
    semanage_set_reload(store->handle, reload);
    semanage_set_create_store(store->handle, 0);
    if (semanage_is_managed(store->handle) != 1 || semanage_connect(store->handle) < 0) {
        snprintf(error, error_size, "no SELinux policy store \"%s\" under %s%s%s", name, root,
                 store->length ? ": " : "", store->messages);
        semanage_handle_destroy(store->handle);
        current = NULL;
        free(store);
        return NULL;
    }
    return store;
}

int cselinux_store_install(cselinux_store *store, const char *name, const char *cil, size_t length) {
    // libsemanage takes the data as char * but does not keep or change it.
    char *copy = malloc(length + 1);
    if (!copy) return -1;
    memcpy(copy, cil, length);
    copy[length] = 0;
    int rc = semanage_module_install(store->handle, copy, length, name, "cil");
    free(copy);
    return rc < 0 ? -1 : 0;
}

int cselinux_store_remove(cselinux_store *store, const char *name) {
    char *copy = strdup(name);
    int rc = semanage_module_remove(store->handle, copy);
    free(copy);
    return rc < 0 ? -1 : 0;
}

int cselinux_store_commit(cselinux_store *store) {
    return semanage_commit(store->handle);
}

char *cselinux_store_modules(cselinux_store *store) {
    semanage_module_info_t *list = NULL;
    int count = 0;
    if (semanage_module_list(store->handle, &list, &count) < 0) return NULL;
    size_t size = 1;
    for (int i = 0; i < count; i++) size += strlen(semanage_module_get_name(semanage_module_list_nth(list, i))) + 1;
    char *names = malloc(size);
    if (names) {
        size_t offset = 0;
        for (int i = 0; i < count; i++) {
            const char *name = semanage_module_get_name(semanage_module_list_nth(list, i));
            size_t length = strlen(name);
            memcpy(names + offset, name, length);
            names[offset + length] = '\n';
            offset += length + 1;
        }
        names[offset] = 0;
    }
    for (int i = 0; i < count; i++) semanage_module_info_datum_destroy(semanage_module_list_nth(list, i));
    free(list);
    return names;
}

// Appends `bytes` and a NUL to a growing buffer; 0, or -1 when out of memory.
static int push(char **buffer, size_t *length, size_t *capacity, const void *bytes, size_t size) {
    if (*length + size + 1 > *capacity) {
        size_t wanted = (*length + size + 1) * 2;
        char *grown = realloc(*buffer, wanted);
        if (!grown) return -1;
        *buffer = grown;
        *capacity = wanted;
    }
    memcpy(*buffer + *length, bytes, size);
    (*buffer)[*length + size] = 0;
    *length += size + 1;
    return 0;
}

char *cselinux_store_sources(cselinux_store *store, uint16_t priority, size_t *length) {
    semanage_module_info_t *list = NULL;
    int count = 0;
    if (semanage_module_list_all(store->handle, &list, &count) < 0) return NULL;
    char *buffer = NULL;
    size_t capacity = 0;
    int failed = 0;
    *length = 0;
    for (int i = 0; i < count && !failed; i++) {
        semanage_module_info_t *info = semanage_module_list_nth(list, i);
        uint16_t level = 0;
        const char *name = NULL;
        if (semanage_module_info_get_priority(store->handle, info, &level) < 0 || level != priority) continue;
        if (semanage_module_info_get_name(store->handle, info, &name) < 0) continue;
        semanage_module_key_t *key = NULL;
        if (semanage_module_key_create(store->handle, &key) < 0) { failed = 1; break; }
        semanage_module_key_set_name(store->handle, key, name);
        semanage_module_key_set_priority(store->handle, key, priority);
        void *data = NULL;
        size_t size = 0;
        semanage_module_info_t *extracted = NULL;
        if (semanage_module_extract(store->handle, key, 0, &data, &size, &extracted) < 0) {
            failed = 1;
        } else {
            if (push(&buffer, length, &capacity, name, strlen(name)) < 0 || push(&buffer, length, &capacity, data, size) < 0) failed = 1;
            munmap(data, size);
            semanage_module_info_destroy(store->handle, extracted);
            free(extracted);
        }
        semanage_module_key_destroy(store->handle, key);
        free(key);
    }
    for (int i = 0; i < count; i++) semanage_module_info_destroy(store->handle, semanage_module_list_nth(list, i));
    free(list);
    if (failed) {
        free(buffer);
        return NULL;
    }
    // An empty list is an empty buffer, not a failure.
    return buffer ? buffer : calloc(1, 1);
}

const char *cselinux_store_take_messages(cselinux_store *store) {
    memcpy(store->taken, store->messages, store->length + 1);
    store->length = 0;
    store->messages[0] = 0;
    return store->taken;
}

void cselinux_store_close(cselinux_store *store) {
    if (!store) return;
    if (current == store) current = NULL;
    semanage_disconnect(store->handle);
    semanage_handle_destroy(store->handle);
    free(store);
}

int cselinux_kernel_enabled(void) {
    return is_selinux_enabled() == 1;
}
