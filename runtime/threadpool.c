/*
 * threadpool.c — persistent workers that share the tasks of one loop at a
 * time (see threadpool.h).
 *
 * A loop is published under the mutex with a new generation number; workers
 * wake, take task indices from an atomic counter, and the last one to finish
 * signals the caller, who has been taking tasks too. Tasks are claimed one at
 * a time so that uneven tasks balance themselves.
 */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

struct AttnPool {
    int nthreads;                 /* threads a loop runs on, caller included */
    pthread_t *workers;           /* nthreads - 1 of them */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    pthread_mutex_t busy;         /* held by the caller of the loop in progress */
    unsigned long generation;     /* bumped per loop */
    bool stop;
    /* the loop in progress */
    void (*fn)(void *, int64_t);
    void *ctx;
    int64_t n;
    atomic_int_fast64_t next;     /* next unclaimed task */
    int active;                   /* workers still inside the loop */
};

static void run_tasks(AttnPool *p) {
    for (;;) {
        int64_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n)
            return;
        p->fn(p->ctx, i);
    }
}

static void *worker(void *arg) {
    AttnPool *p = arg;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        run_tasks(p);
        pthread_mutex_lock(&p->mu);
        if (--p->active == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

AttnPool *attn_pool_new(int threads) {
    if (threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (int)cores : 1;
    }
    if (threads > 256)
        threads = 256;
    AttnPool *p = calloc(1, sizeof *p);
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

void attn_pool_free(AttnPool *p) {
    if (!p)
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

int attn_pool_threads(const AttnPool *p) { return p ? p->nthreads : 1; }

void attn_rt_parallel_for(AttnPool *p, int64_t n, void (*fn)(void *ctx, int64_t i), void *ctx) {
    if (n <= 0)
        return;
    if (!p || p->nthreads == 1 || n == 1 || pthread_mutex_trylock(&p->busy) != 0) {
        for (int64_t i = 0; i < n; i++)
            fn(ctx, i);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    atomic_store(&p->next, 0);
    p->active = p->nthreads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p);
    pthread_mutex_lock(&p->mu);
    while (p->active > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->busy);
}
