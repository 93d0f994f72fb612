/*
 * test_attention.c — the generated attention core (compiler/codegen/cg_attention.c)
 * against a straightforward reference accumulating in double: query and key
 * counts around the tile sizes, head sizes around the vector width, batch
 * dims with permuted, padded and broadcast layouts, no mask, bool and
 * additive masks (full, key padding, causal, broadcast along keys), fully
 * masked rows (NaN), NaN and inf inputs, no keys (zeros), no pool and pools
 * of 1 and 2 threads, on the host target and on 8- and 4-lane targets; and
 * a call through the declaration that model modules use when the core is
 * compiled separately (the JIT).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core_env.h"

#include "cg_attention.h"
#include "threadpool.h"
#include "jit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*AttentionFn)(const AttnAttentionArgs *, attn_pool *);

typedef struct Env {
    CoreEnv core;
    AttentionFn attention;
} Env;

static void env_init(Env *e, const char *cpu, const char *attr) {
    CgModule cm;
    core_env_begin(&e->core, &cm, cpu, attr, "attention");
    LLVMValueRef a = cg_attention(&cm);
    assert_true(cg_attention(&cm) == a); /* emitted once */
    assert_true(cg_attention_fn(&cm) == a);
    core_env_finish(&e->core, &cm);
    e->attention = (AttentionFn)core_env_lookup(&e->core, "attn_attention");
}

static void env_free(Env *e) { core_env_free(&e->core); }

/* Layouts of a [nb0, nb1, rows, cols] operand. */
enum { LAY_CONTIGUOUS, LAY_PERMUTED, LAY_PADDED, LAY_SHARED, LAY_COUNT };

/* A tensor with its element strides; `len` floats allocated. */
typedef struct Buf {
    float *p;
    int64_t s0, s1, rs, len;
} Buf;

/* LAY_PERMUTED: stored [nb0, rows, nb1, cols] (heads interleaved, as before split_heads' permute);
 * LAY_PADDED: rows of cols + 3; LAY_SHARED: one copy for all of dim 1 (stride 0). */
static Buf make_buf(int layout, int64_t nb0, int64_t nb1, int64_t rows, int64_t cols) {
    Buf b;
    switch (layout) {
    case LAY_PERMUTED:
        b.rs = nb1 * cols, b.s1 = cols, b.s0 = rows * nb1 * cols;
        break;
    case LAY_PADDED:
        b.rs = cols + 3, b.s1 = rows * (cols + 3), b.s0 = nb1 * b.s1;
        break;
    case LAY_SHARED:
        b.rs = cols, b.s1 = 0, b.s0 = rows * cols;
        break;
    default:
        b.rs = cols, b.s1 = rows * cols, b.s0 = nb1 * b.s1;
        break;
    }
    b.len = nb0 * nb1 * rows * (cols + 3) + 8; /* covers every layout */
    b.p = malloc(sizeof(float) * (size_t)b.len);
    for (int64_t i = 0; i < b.len; i++)
        b.p[i] = rnd();
    return b;
}

/* Masks: none; bool or additive [nb0, nb1, L, S]; bool key padding [nb0, 1, 1, S]; bool causal [L, S];
 * additive [1, 1, L, S]; bool [nb0, nb1, L, 1] (whole rows, broadcast along keys). */
enum { MASK_NONE, MASK_BOOL, MASK_ADD, MASK_KEYPAD, MASK_CAUSAL, MASK_ADD_BCAST, MASK_ROWS, MASK_COUNT };

typedef struct Case {
    int64_t nb0, nb1, L, S, D, Dv;
    int lay_q, lay_k, lay_v, lay_o, mask;
    double masked;    /* probability that a bool mask element is set (or an additive one is -inf) */
    float scale;
} Case;

static double mask_value(const AttnAttentionArgs *a, int64_t b0, int64_t b1, int64_t i, int64_t j) {
    int64_t off = b0 * a->m0 + b1 * a->m1 + i * a->mr + j * a->mc;
    if (a->mask_kind == ATTN_MASK_BOOL)
        return ((const uint8_t *)a->mask)[off] ? -INFINITY : 0.0;
    return ((const float *)a->mask)[off];
}

/* softmax(where(mask, -inf, (q @ k.T) * scale)) @ v in double, as the unfused ops compute it. */
static void reference(const AttnAttentionArgs *a, int64_t b0, int64_t b1, int64_t i, double *out, double *mag) {
    double *sc = malloc(sizeof(double) * (size_t)(a->S + 1));
    const float *q = a->q + b0 * a->q_s0 + b1 * a->q_s1 + i * a->q_rs;
    double m = -INFINITY;
    for (int64_t j = 0; j < a->S; j++) {
        const float *k = a->k + b0 * a->k_s0 + b1 * a->k_s1 + j * a->k_rs;
        double dot = 0;
        for (int64_t d = 0; d < a->D; d++)
            dot += (double)q[d] * (double)k[d];
        double s = (double)(float)dot * (double)(float)a->scale;
        if (a->mask) {
            double mv = mask_value(a, b0, b1, i, j);
            s = a->mask_kind == ATTN_MASK_BOOL ? (mv < 0 ? -INFINITY : s) : s + mv;
        }
        sc[j] = s;
        m = isnan(s) || s > m ? s : m;
    }
    double l = 0;
    for (int64_t j = 0; j < a->S; j++) {
        sc[j] = exp(sc[j] - m);
        l += sc[j];
    }
    for (int64_t c = 0; c < a->Dv; c++) {
        double sum = 0, mg = 0;
        for (int64_t j = 0; j < a->S; j++) {
            double x = a->v[b0 * a->v_s0 + b1 * a->v_s1 + j * a->v_rs + c];
            sum += sc[j] / l * x;
            mg += fabs(sc[j] / l * x);
        }
        out[c] = sum;
        mag[c] = mg;
    }
    free(sc);
}

static const char *const mask_names[] = {"none", "bool", "add", "keypad", "causal", "add-bcast", "rows"};

/* Runs one case and checks every output element (and that nothing else of o was written). */
static void check(Env *e, const Case *c, attn_pool *pool, int nan_inputs) {
    Buf q = make_buf(c->lay_q, c->nb0, c->nb1, c->L, c->D), k = make_buf(c->lay_k, c->nb0, c->nb1, c->S, c->D);
    Buf v = make_buf(c->lay_v, c->nb0, c->nb1, c->S, c->Dv);
    Buf o = make_buf(c->lay_o, c->nb0, c->nb1, c->L, c->Dv);
    for (int64_t i = 0; i < o.len; i++)
        o.p[i] = 1234.5f;
    AttnAttentionArgs a = {
        .nb0 = c->nb0, .nb1 = c->nb1, .L = c->L, .S = c->S, .D = c->D, .Dv = c->Dv,
        .q = q.p, .q_s0 = q.s0, .q_s1 = q.s1, .q_rs = q.rs,
        .k = k.p, .k_s0 = k.s0, .k_s1 = k.s1, .k_rs = k.rs,
        .v = v.p, .v_s0 = v.s0, .v_s1 = v.s1, .v_rs = v.rs,
        .o = o.p, .o_s0 = o.s0, .o_s1 = o.s1, .o_rs = o.rs,
        .scale = c->scale,
    };
    if (nan_inputs && c->L > 1 && c->S > 2 && c->D > 0 && c->Dv > 0) {
        q.p[1 * q.rs] = NAN;                /* query 1 of batch (0, 0): its row is NaN */
        k.p[2 * k.rs] = INFINITY;           /* key 2: inf or NaN scores for every query of (0, 0) */
        v.p[1 * v.rs + c->Dv - 1] = NAN;    /* value 1: its last channel NaN in every output of (0, 0) */
    }
    void *mask = NULL;
    /* room for the batch-broadcast masks of an empty batch too */
    int64_t mlen = (c->nb0 + 1) * (c->nb1 + 1) * c->L * c->S + 1;
    if (c->mask != MASK_NONE) {
        bool is_add = c->mask == MASK_ADD || c->mask == MASK_ADD_BCAST;
        mask = malloc((size_t)mlen * (is_add ? sizeof(float) : 1));
        for (int64_t i = 0; i < mlen; i++) {
            bool set = (double)(next_u64() >> 11) / 9007199254740992.0 < c->masked;
            if (is_add)
                ((float *)mask)[i] = set ? -INFINITY : rnd() * 2.0f;
            else
                ((uint8_t *)mask)[i] = set ? (uint8_t)(1 + next_u64() % 255) : 0;
        }
        a.mask = mask;
        a.mask_kind = is_add ? ATTN_MASK_ADD : ATTN_MASK_BOOL;
        int64_t L = c->L, S = c->S;
        switch (c->mask) {
        case MASK_KEYPAD:
            a.m0 = S, a.m1 = 0, a.mr = 0, a.mc = 1;
            break;
        case MASK_CAUSAL: /* key j masked for query i when j > i + S - L (the last query sees every key) */
            a.m0 = 0, a.m1 = 0, a.mr = S, a.mc = 1;
            for (int64_t i = 0; i < L; i++)
                for (int64_t j = 0; j < S; j++)
                    ((uint8_t *)mask)[i * S + j] = j > i + S - L;
            break;
        case MASK_ADD_BCAST:
            a.m0 = 0, a.m1 = 0, a.mr = S, a.mc = 1;
            break;
        case MASK_ROWS:
            a.m0 = c->nb1 * L, a.m1 = L, a.mr = 1, a.mc = 0;
            break;
        default:
            a.m0 = c->nb1 * L * S, a.m1 = L * S, a.mr = S, a.mc = 1;
            break;
        }
    }
    e->attention(&a, pool);
    double *ref = malloc(sizeof(double) * (size_t)(c->Dv + 1)), *mag = malloc(sizeof(double) * (size_t)(c->Dv + 1));
    for (int64_t b0 = 0; b0 < c->nb0; b0++)
        for (int64_t b1 = 0; b1 < c->nb1; b1++)
            for (int64_t i = 0; i < c->L; i++) {
                reference(&a, b0, b1, i, ref, mag);
                for (int64_t ch = 0; ch < c->Dv; ch++) {
                    float *slot = &o.p[b0 * o.s0 + b1 * o.s1 + i * o.rs + ch];
                    double got = *slot;
                    bool ok = isfinite(ref[ch]) ? fabs(got - ref[ch]) <= 1e-5 * mag[ch] + 1e-30
                                                : (isnan(ref[ch]) ? isnan(got) : got == ref[ch]);
                    if (!ok)
                        fail_msg("nb %ld x %ld L %ld S %ld D %ld Dv %ld layouts q%d k%d v%d o%d mask %s (%.2f) "
                                 "threads %d: o[%ld][%ld][%ld][%ld] = %.9g, expected %.9g",
                                 (long)c->nb0, (long)c->nb1, (long)c->L, (long)c->S, (long)c->D, (long)c->Dv,
                                 c->lay_q, c->lay_k, c->lay_v, c->lay_o, mask_names[c->mask], c->masked,
                                 attn_pool_threads(pool), (long)b0, (long)b1, (long)i, (long)ch, got, ref[ch]);
                    *slot = 1234.5f; /* checked: back to the sentinel, so that stray writes show below */
                }
            }
    for (int64_t i = 0; i < o.len; i++)
        if (o.p[i] != 1234.5f)
            fail_msg("L %ld S %ld Dv %ld: wrote o[%ld], outside the output", (long)c->L, (long)c->S, (long)c->Dv,
                     (long)i);
    free(ref);
    free(mag);
    free(mask);
    free(q.p);
    free(k.p);
    free(v.p);
    free(o.p);
}

static const int64_t LS[] = {1, 2, 15, 16, 17, 63, 64, 65, 200};
static const int64_t DS[] = {1, 8, 16, 17, 64, 80};
enum { NLS = 9, NDS = 6 };

/* A random case around the given sizes. */
static Case random_case(int64_t L, int64_t S, int64_t D, int64_t Dv) {
    Case c = {.L = L, .S = S, .D = D, .Dv = Dv};
    c.nb0 = 1 + (int64_t)(next_u64() % 2);
    c.nb1 = 1 + (int64_t)(next_u64() % 3);
    c.lay_q = (int)(next_u64() % LAY_COUNT);
    c.lay_k = (int)(next_u64() % LAY_COUNT);
    c.lay_v = (int)(next_u64() % LAY_COUNT);
    c.lay_o = (int)(next_u64() % LAY_SHARED); /* an output cannot be shared */
    c.mask = (int)(next_u64() % MASK_COUNT);
    const double densities[] = {0.0, 0.2, 0.6, 0.97};
    c.masked = densities[next_u64() % 4];
    c.scale = (float)(next_u64() % 2 ? 1.0 / sqrt((double)D) : 0.37);
    return c;
}

static void run_target(const char *cpu, const char *attr, int reps) {
    Env e;
    env_init(&e, cpu, attr);
    /* every pair of query and key counts, and every pair of head sizes */
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < NLS; i++)
            for (int j = 0; j < NLS; j++) {
                Case c = random_case(LS[i], LS[j], pick(DS, NDS), pick(DS, NDS));
                check(&e, &c, e.core.pools[(i + j + r) % 3], 0);
            }
        for (int i = 0; i < NDS; i++)
            for (int j = 0; j < NDS; j++) {
                Case c = random_case(pick(LS, NLS), pick(LS, NLS), DS[i], DS[j]);
                check(&e, &c, e.core.pools[(i + j + r) % 3], 0);
            }
    }
    /* every mask on one shape, with each pool */
    for (int m = 0; m < MASK_COUNT; m++)
        for (int pl = 0; pl < 3; pl++) {
            Case c = random_case(65, 200, 17, 64);
            c.mask = m;
            c.masked = 0.5;
            check(&e, &c, e.core.pools[pl], 0);
        }
    env_free(&e);
}

static void test_host(void **state) {
    (void)state;
    run_target(NULL, NULL, 2);
}
static void test_avx2(void **state) {
    (void)state;
    run_target("haswell", "+avx,+avx2,+fma", 1);
}
static void test_sse2(void **state) {
    (void)state;
    run_target("x86-64", "+sse2", 1);
}

/* Rows with every key masked are NaN; the other rows are unaffected. */
static void test_fully_masked(void **state) {
    (void)state;
    Env e;
    env_init(&e, NULL, NULL);
    const int masks[] = {MASK_BOOL, MASK_ADD, MASK_ROWS, MASK_KEYPAD};
    for (int m = 0; m < 4; m++)
        for (int pl = 0; pl < 3; pl++) {
            Case c = random_case(70, 150, 64, 64);
            c.mask = masks[m];
            c.masked = 0.97; /* most rows keep a few keys, some none */
            check(&e, &c, e.core.pools[pl], 0);
            c.masked = 1.0;
            check(&e, &c, e.core.pools[pl], 0);
        }
    env_free(&e);
}

/* NaN and inf in q, k and v propagate as through the unfused ops. */
static void test_special_values(void **state) {
    (void)state;
    Env e;
    env_init(&e, NULL, NULL);
    for (int m = 0; m < MASK_COUNT; m++) {
        Case c = random_case(40, 300, 16, 33);
        c.nb0 = c.nb1 = 1;
        c.mask = m;
        c.masked = 0.3;
        check(&e, &c, e.core.pools[m % 3], 1);
    }
    env_free(&e);
}

/* No keys: zeros (an empty sum); no queries, batch or value channels: nothing written. */
static void test_degenerate(void **state) {
    (void)state;
    Env e;
    env_init(&e, NULL, NULL);
    const int64_t shapes[][6] = {{1, 1, 5, 0, 8, 8}, {2, 3, 17, 0, 1, 20}, {1, 1, 0, 5, 8, 8},
                                 {0, 2, 5, 5, 8, 8}, {2, 0, 5, 5, 8, 8},  {1, 1, 5, 5, 8, 0},
                                 {1, 1, 5, 7, 0, 9}, {2, 2, 33, 19, 0, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int pl = 0; pl < 3; pl++) {
            Case c = random_case(shapes[s][2], shapes[s][3], shapes[s][4], shapes[s][5]);
            c.nb0 = shapes[s][0];
            c.nb1 = shapes[s][1];
            check(&e, &c, e.core.pools[pl], 0);
        }
    env_free(&e);
}

/* Larger products: many key blocks, many tasks, heads spread over the pool. */
static void test_large(void **state) {
    (void)state;
    Env e;
    env_init(&e, NULL, NULL);
    Case c = random_case(1000, 1100, 64, 64);
    c.nb0 = 1, c.nb1 = 1, c.mask = MASK_NONE;
    check(&e, &c, e.core.pools[2], 0);
    c = random_case(300, 700, 80, 48);
    c.nb0 = 2, c.nb1 = 3, c.mask = MASK_CAUSAL;
    check(&e, &c, e.core.pools[2], 0);
    c = random_case(129, 515, 128, 128);
    c.nb0 = 1, c.nb1 = 4, c.mask = MASK_KEYPAD, c.masked = 0.4;
    check(&e, &c, e.core.pools[2], 0);
    env_free(&e);
}

/* A module compiled with the core outside (as the JIT's model modules are) declares attn_attention and
 * calls it by name: a wrapper calling the declaration, linked to the core of another JIT, gives the
 * core's results. */
static void test_external_core(void **state) {
    (void)state;
    Env e;
    env_init(&e, NULL, NULL);
    char *err = NULL;
    Jit *jit = jit_new(&e.core.t, &err);
    assert_non_null(jit);
    assert_int_equal(jit_define(jit, "attn_attention", (void *)e.attention, &err), 0);
    CgModule cm;
    cg_module_init(&cm, jit_context(jit), "model", &e.core.t);
    cm.core_external = true;
    LLVMValueRef decl = cg_attention_fn(&cm);
    assert_true(LLVMIsDeclaration(decl));
    assert_true(cg_attention_fn(&cm) == decl);
    LLVMValueRef wrap = LLVMAddFunction(cm.mod, "call_attention", LLVMGlobalGetValueType(decl));
    LLVMBuilderRef b = LLVMCreateBuilderInContext(cm.ctx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cm.ctx, wrap, "entry"));
    LLVMValueRef args[] = {LLVMGetParam(wrap, 0), LLVMGetParam(wrap, 1)};
    LLVMBuildCall2(b, LLVMGlobalGetValueType(decl), decl, args, 2, "");
    LLVMBuildRetVoid(b);
    LLVMDisposeBuilder(b);
    if (cg_optimize(cm.mod, &e.core.t, &err) != 0)
        fail_msg("%s", err);
    assert_int_equal(jit_add_module(jit, cm.mod, &err), 0);
    Env via = e;
    via.attention = (AttentionFn)jit_lookup(jit, "call_attention", &err);
    assert_non_null(via.attention);
    Case c = random_case(37, 90, 64, 64);
    check(&via, &c, e.core.pools[2], 0);
    jit_free(jit);
    env_free(&e);
}

int main(void) {
    rng_seed(0x9E3779B97F4A7C15ull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host),          cmocka_unit_test(test_avx2),
        cmocka_unit_test(test_sse2),          cmocka_unit_test(test_fully_masked),
        cmocka_unit_test(test_special_values), cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_large),         cmocka_unit_test(test_external_core),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
