// A syscall-heavy loop for spoc's recording-overhead figures (Benchmarks/spoc-bench.sh):
// N getppid calls (default 1,000,000), then the loop's own wall time in nanoseconds on
// stdout, so that the recorder's start-up does not count.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 1000000;
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < count; i++) syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &end);
    long long ns = (end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec);
    printf("%lld\n", ns);
    return 0;
}
