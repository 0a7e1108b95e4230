#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H

/// How many allocations (malloc, calloc, realloc, aligned allocations) the process made so far.
/// Linking this target into an executable replaces glibc's allocator entry points with
/// counting ones that forward to glibc.
unsigned long long malloc_counter_allocations(void);

/// Bytes of heap in use (glibc's mallinfo2 `uordblks`).
unsigned long long malloc_counter_heap_bytes(void);

#endif
