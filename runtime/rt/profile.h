/*
 * profile.h — time per kernel of compiled code built with profiling
 * (attn_compile_options.profile, `attnc run --profile`).
 *
 * Such code reads the clock around every kernel call and adds the time to
 * a counter pair per kernel (nanoseconds, calls) that the run context
 * points to (attn_run_ctx.profile). Code built without profiling has no such
 * calls at all.
 */
#ifndef ATTN_PROFILE_H
#define ATTN_PROFILE_H

#include "attn.h"

#include <stdint.h>

/* A monotonic clock, in nanoseconds. */
ATTN_RT_API int64_t attn_rt_clock_ns(void);
/* counters[2k] += ns, counters[2k+1] += 1, atomically (runs may overlap);
 * nothing when counters is NULL. */
ATTN_RT_API void attn_rt_profile_add(int64_t *counters, int64_t k, int64_t ns);

#endif
