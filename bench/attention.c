/*
 * attention.c — GFLOP/s of the generated attention core (attn_attention) for
 * one head with d = 64 at L = S = 1024, 2048, 4096, on 1 and 2 threads,
 * counting 4·L·S·d flops (the two products; the softmax is not counted);
 * then one BERT-base layer's attention: 12 heads, L = S = 128, d = 64, q, k
 * and v read with strides from the fused [128, 2304] projection, the output
 * written with the heads merged [128, 768], a bool key-padding mask.
 *
 *     ./build/bench/bench_attention [runs [d]]
 *
 * Times are medians over `runs` rounds (default 9); a round times at least
 * ~20 ms of repeated calls. ATTN_BENCH_MASK=causal adds a bool causal mask.
 * ATTN_BENCH_CPUTIME=1 times on the calling thread's CPU clock instead of
 * the wall clock (1-thread figures on a busy machine; meaningless for 2).
 *
 * PyTorch's figure for comparison: time softmax(q @ k.T * scale, dim=-1) @ v
 * under torch.inference_mode() with torch.set_num_threads(1 or 2) and
 * OMP_WAIT_POLICY=PASSIVE.
 */
#include "cg_attention.h"
#include "core_bench.h"
#include "threadpool.h"
#include "jit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*AttentionFn)(const AttnAttentionArgs *, attn_pool *);

typedef struct Call {
    AttentionFn fn;
    const AttnAttentionArgs *a;
    attn_pool *pool;
} Call;

static void call(int impl, void *ctx) {
    (void)impl;
    const Call *c = ctx;
    c->fn(c->a, c->pool);
}

/* Median seconds per call over `runs` rounds (core_bench_time). */
static double time_call(AttentionFn fn, const AttnAttentionArgs *a, attn_pool *pool, int runs) {
    Call c = {fn, a, pool};
    double sec;
    core_bench_time(1, call, &c, runs, &sec);
    return sec;
}

/* BERT-base's attention at batch 1: the shape and layout the fused kernel hands the core. */
static void bert_layer(AttentionFn fn, attn_pool *const *pools, int runs) {
    enum { HEADS = 12, L = 128, DH = 64, HID = HEADS * DH };
    float *qkv = malloc(sizeof(float) * L * 3 * HID), *o = malloc(sizeof(float) * L * HID);
    uint8_t *pad = calloc(L, 1); /* no key padded: what a single unpadded sequence gives */
    for (int64_t i = 0; i < (int64_t)L * 3 * HID; i++)
        qkv[i] = (float)sin((double)i * 0.37);
    AttnAttentionArgs a = {
        .nb0 = 1, .nb1 = HEADS, .L = L, .S = L, .D = DH, .Dv = DH,
        .q = qkv, .q_s0 = L * 3 * HID, .q_s1 = DH, .q_rs = 3 * HID,
        .k = qkv + HID, .k_s0 = L * 3 * HID, .k_s1 = DH, .k_rs = 3 * HID,
        .v = qkv + 2 * HID, .v_s0 = L * 3 * HID, .v_s1 = DH, .v_rs = 3 * HID,
        .o = o, .o_s0 = L * HID, .o_s1 = DH, .o_rs = HID,
        .scale = 1.0 / sqrt((double)DH),
        .mask = pad, .mask_kind = ATTN_MASK_BOOL, .m0 = L, .mc = 1,
    };
    printf("BERT-base layer (12 heads, L = S = 128, d = 64, strided q/k/v, key-padding mask)\n");
    printf("%8s %12s %10s\n", "threads", "GFLOP/s", "ms");
    for (int th = 0; th < 2; th++) {
        double s = time_call(fn, &a, pools[th], runs);
        printf("%8d %12.1f %10.3f\n", th + 1, 4.0 * HEADS * L * L * DH / s * 1e-9, s * 1e3);
    }
    free(qkv);
    free(o);
    free(pad);
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 9;
    int64_t d = argc > 2 ? atoll(argv[2]) : 64;
    if (runs < 1 || d < 1) {
        fprintf(stderr, "usage: %s [runs [d]]\n", argv[0]);
        return 2;
    }
    const char *mask_env = getenv("ATTN_BENCH_MASK");
    bool causal = mask_env && strcmp(mask_env, "causal") == 0;
    bool cputime = core_bench_init();
    char *err = NULL;
    CgTarget t;
    if (cg_target_init(&t, NULL, NULL, &err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    Jit *jit = jit_new(&t, &err);
    if (!jit) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    CgModule cm;
    cg_module_init(&cm, jit_context(jit), "attention", &t);
    double c0 = core_bench_now();
    cg_attention(&cm);
    if (cg_optimize(cm.mod, &t, &err) != 0 || jit_add_module(jit, cm.mod, &err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    AttentionFn fn = (AttentionFn)jit_lookup(jit, "attn_attention", &err);
    if (!fn) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("target %s, %d lanes; attention core compiled in %.0f ms; d = %ld%s%s\n", t.cpu, cg_target_lanes(&t),
           (core_bench_now() - c0) * 1e3, (long)d, causal ? ", causal mask" : "",
           cputime ? "; thread CPU time" : "");
    attn_pool *pools[2] = {attn_pool_new(1), attn_pool_new(2)};
    const int64_t sizes[] = {1024, 2048, 4096};
    printf("%6s %8s %12s %10s\n", "L=S", "threads", "GFLOP/s", "ms");
    for (int si = 0; si < 3; si++) {
        int64_t L = sizes[si];
        float *q = malloc(sizeof(float) * (size_t)(L * d)), *k = malloc(sizeof(float) * (size_t)(L * d));
        float *v = malloc(sizeof(float) * (size_t)(L * d)), *o = malloc(sizeof(float) * (size_t)(L * d));
        uint8_t *mask = causal ? malloc((size_t)(L * L)) : NULL;
        for (int64_t i = 0; i < L * d; i++) {
            q[i] = (float)sin((double)i * 0.37);
            k[i] = (float)cos((double)i * 0.11);
            v[i] = (float)sin((double)i * 0.05);
        }
        for (int64_t i = 0; causal && i < L; i++)
            for (int64_t j = 0; j < L; j++)
                mask[i * L + j] = j > i;
        AttnAttentionArgs a = {
            .nb0 = 1, .nb1 = 1, .L = L, .S = L, .D = d, .Dv = d,
            .q = q, .q_rs = d, .k = k, .k_rs = d, .v = v, .v_rs = d, .o = o, .o_rs = d,
            .scale = 1.0 / sqrt((double)d),
            .mask = mask, .mask_kind = ATTN_MASK_BOOL, .mr = L, .mc = 1,
        };
        for (int th = 0; th < 2; th++) {
            double s = time_call(fn, &a, pools[th], runs);
            printf("%6ld %8d %12.1f %10.3f\n", (long)L, th + 1, 4.0 * (double)L * (double)L * (double)d / s * 1e-9,
                   s * 1e3);
        }
        free(q);
        free(k);
        free(v);
        free(o);
        free(mask);
    }
    bert_layer(fn, pools, runs);
    attn_pool_free(pools[0]);
    attn_pool_free(pools[1]);
    jit_free(jit);
    cg_target_free(&t);
    return 0;
}
