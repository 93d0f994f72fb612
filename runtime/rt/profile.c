/*
 * profile.c — the clock and counters of profiled compiled code (profile.h).
 */
#include "profile.h"

#include <time.h>

int64_t attn_rt_clock_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

void attn_rt_profile_add(int64_t *counters, int64_t k, int64_t ns) {
    if (!counters)
        return;
    __atomic_fetch_add(&counters[2 * k], ns, __ATOMIC_RELAXED);
    __atomic_fetch_add(&counters[2 * k + 1], 1, __ATOMIC_RELAXED);
}
