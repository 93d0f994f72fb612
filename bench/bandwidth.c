/*
 * bandwidth.c — read bandwidth of this machine for buffers of given sizes, the
 * yardstick of bench/compare's bounds for weight-streaming rows.
 *
 *     bench_bandwidth THREADS BYTES...
 *
 * For each size, a buffer of BYTES is read end to end over and over (split in
 * THREADS contiguous slices, one per thread), as a recurrent step reads its
 * weights: a buffer that fits in the caches is read from them, a large one from
 * DRAM. A round reads the buffer as many times as make about 20 MB plus one
 * pass; the best and the median of 11 rounds are printed, one line per size
 * (the best is the yardstick of a bound; on a shared machine the median also
 * counts other programs' use of the caches and the memory bus):
 *     BW bytes best_GB_per_s median_GB_per_s
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROUNDS = 11, MAX_THREADS = 64 };

typedef struct {
    const uint64_t *p;
    size_t n;
    int passes;
    uint64_t sink;
} Slice;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* XOR of every word, so that each load is needed and the loop vectorises. */
static void *stream(void *arg) {
    Slice *s = arg;
    uint64_t acc = 0;
    for (int r = 0; r < s->passes; r++)
        for (size_t i = 0; i < s->n; i++)
            acc ^= s->p[i];
    s->sink = acc;
    return NULL;
}

/* Best and median read bandwidth in GB/s for a buffer of `bytes`. */
static void measure(size_t bytes, int threads, double *best, double *med) {
    size_t words = bytes / sizeof(uint64_t);
    uint64_t *buf = aligned_alloc(64, (words * sizeof *buf + 63) / 64 * 64);
    if (!buf) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < words; i++)
        buf[i] = i * 0x9e3779b97f4a7c15u;
    int passes = 1 + (int)(20e6 / (double)bytes);
    Slice s[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    double gbs[ROUNDS];
    uint64_t sink = 0;
    for (int r = -1; r < ROUNDS; r++) {
        double t0 = now_s();
        for (int t = 0; t < threads; t++) {
            size_t lo = words * (size_t)t / (size_t)threads, hi = words * (size_t)(t + 1) / (size_t)threads;
            s[t] = (Slice){.p = buf + lo, .n = hi - lo, .passes = passes};
            if (t > 0 && pthread_create(&tid[t], NULL, stream, &s[t])) {
                fprintf(stderr, "pthread_create failed\n");
                exit(1);
            }
        }
        stream(&s[0]);
        for (int t = 1; t < threads; t++)
            pthread_join(tid[t], NULL);
        double dt = now_s() - t0;
        for (int t = 0; t < threads; t++)
            sink ^= s[t].sink;
        if (r >= 0)
            gbs[r] = (double)words * sizeof *buf * passes / dt / 1e9;
    }
    free(buf);
    qsort(gbs, ROUNDS, sizeof *gbs, cmp);
    if (sink == 1)
        fprintf(stderr, " ");
    *best = gbs[ROUNDS - 1];
    *med = gbs[ROUNDS / 2];
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_bandwidth THREADS BYTES...\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    if (threads < 1 || threads > MAX_THREADS)
        threads = 1;
    for (int i = 2; i < argc; i++) {
        size_t bytes = (size_t)strtoull(argv[i], NULL, 10);
        if (bytes < 4096)
            bytes = 4096;
        double best, med;
        measure(bytes, threads, &best, &med);
        printf("BW %zu %.2f %.2f\n", bytes, best, med);
    }
    return 0;
}
