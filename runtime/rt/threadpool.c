/*
 * threadpool.c — persistent workers that share the tasks of one loop at a
 * time (see threadpool.h).
 *
 * A loop is published with a new generation number; workers take task
 * indices from an atomic counter, and the last one to finish signals the
 * caller, who has been taking tasks too. Tasks are claimed one at a time so
 * that uneven tasks balance themselves.
 *
 * Waiting is hybrid: after a loop, workers spin on the generation number for
 * SPIN_NS before they sleep on a condition variable, and the caller spins on
 * the count of active workers before it sleeps. A recurrent network runs a
 * few small parallel loops per time step, microseconds apart: waking a
 * sleeping thread takes longer than the loop itself, while a spinning one
 * starts at once. The spin is bounded so that idle pools give their cores
 * back quickly.
 */
#include "threadpool.h"
#include "attn_limits.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

enum { SPIN_NS = 100000 };

struct attn_pool {
    int nthreads;                 /* threads a loop runs on, caller included */
    bool process_default;         /* attn_pool_default's: never freed */
    pthread_t *workers;           /* nthreads - 1 of them */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    pthread_mutex_t busy;         /* held by the caller of the loop in progress */
    atomic_ulong generation;      /* bumped per loop, after its fields are set */
    int sleepers;                 /* workers waiting on `wake` (under mu) */
    bool stop;                    /* under mu */
    /* the loop in progress */
    void (*fn)(void *, int64_t);
    void *ctx;
    int64_t n;
    atomic_int_fast64_t next;     /* next unclaimed task */
    atomic_int active;            /* workers still inside the loop */
};

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spins for up to SPIN_NS until done(p, arg) holds; returns whether it did. */
static bool spin_until(attn_pool *p, bool (*done)(attn_pool *, unsigned long), unsigned long arg) {
    int64_t end = now_ns() + SPIN_NS;
    for (int i = 0;; i++) {
        if (done(p, arg))
            return true;
        cpu_relax();
        if ((i & 63) == 63 && now_ns() > end)
            return false;
    }
}

static bool new_loop(attn_pool *p, unsigned long seen) { return atomic_load(&p->generation) != seen; }
static bool all_done(attn_pool *p, unsigned long unused) {
    (void)unused;
    return atomic_load(&p->active) == 0;
}

static void run_tasks(attn_pool *p) {
    for (;;) {
        int64_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n)
            return;
        p->fn(p->ctx, i);
    }
}

static void *worker(void *arg) {
    attn_pool *p = arg;
    unsigned long seen = 0;
    for (;;) {
        if (!spin_until(p, new_loop, seen)) {
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while (!p->stop && atomic_load(&p->generation) == seen)
                pthread_cond_wait(&p->wake, &p->mu);
            p->sleepers--;
            bool stop = p->stop;
            pthread_mutex_unlock(&p->mu);
            if (stop)
                return NULL;
        }
        seen = atomic_load(&p->generation);
        run_tasks(p);
        if (atomic_fetch_sub(&p->active, 1) == 1) { /* the last one out */
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static int online_cores(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (int)cores : 1;
}

attn_pool *attn_pool_new(int threads) {
    if (threads <= 0)
        threads = online_cores();
    if (threads > ATTN_LIMIT_POOL_THREADS)
        threads = ATTN_LIMIT_POOL_THREADS;
    attn_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->workers = calloc((size_t)threads, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->busy, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->nthreads = 1;
    for (int i = 0; i < threads - 1; i++) {
        if (pthread_create(&p->workers[i], NULL, worker, p) != 0)
            break; /* run with the workers that did start */
        p->nthreads++;
    }
    return p;
}

void attn_pool_free(attn_pool *p) {
    if (!p || p->process_default)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads - 1; i++)
        pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->busy);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

int attn_pool_threads(const attn_pool *p) { return p ? p->nthreads : 1; }

/* The process's pool, started on first use with default_threads threads
 * (0: every core). */
static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static attn_pool *default_pool;
static int default_threads;

attn_pool *attn_pool_default(void) {
    pthread_mutex_lock(&default_lock);
    if (!default_pool && (default_pool = attn_pool_new(default_threads)))
        default_pool->process_default = true;
    attn_pool *p = default_pool;
    pthread_mutex_unlock(&default_lock);
    return p;
}

attn_status attn_set_threads(int threads) {
    if (threads < 0)
        return ATTN_ERR_USAGE;
    pthread_mutex_lock(&default_lock);
    int want = threads ? threads : online_cores();
    if (want > ATTN_LIMIT_POOL_THREADS)
        want = ATTN_LIMIT_POOL_THREADS;
    /* a started pool keeps its threads: programs hold it; asking for what it has is no change */
    bool ok = !default_pool || default_pool->nthreads == want;
    if (!default_pool)
        default_threads = threads;
    pthread_mutex_unlock(&default_lock);
    return ok ? ATTN_OK : ATTN_ERR_USAGE;
}

void attn_rt_parallel_for(attn_pool *p, int64_t n, void (*fn)(void *ctx, int64_t i), void *ctx) {
    if (n <= 0)
        return;
    if (!p || p->nthreads == 1 || n == 1 || pthread_mutex_trylock(&p->busy) != 0) {
        for (int64_t i = 0; i < n; i++)
            fn(ctx, i);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    atomic_store(&p->next, 0);
    atomic_store(&p->active, p->nthreads - 1);
    atomic_fetch_add(&p->generation, 1); /* publishes the fields above to spinning workers */
    pthread_mutex_lock(&p->mu);
    if (p->sleepers > 0)
        pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p);
    if (!spin_until(p, all_done, 0)) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->active) > 0)
            pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&p->busy);
}
