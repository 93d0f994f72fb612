/*
 * test_vmath.c — the vectorizable math functions of compiler/codegen/cg_vmath.c
 * against double-precision libm: JIT code applies each function with a
 * <16 x float> loop and a scalar remainder to 2.4 to 3.2 million inputs per function
 * (uniform steps over the interesting range, every 1000th float of the
 * magnitudes from 1e-30 to saturation, both signs, special values), checks
 * the error bounds of docs/VECMATH.md, that the vector, odd-width (<5 x float>)
 * and scalar forms give the same bits, and prints the measured maximum errors.
 * On x86-64 all of it twice: for the host and for baseline x86-64 (no FMA).
 * ATTN_VMATH_EXHAUSTIVE=1 checks every float instead (about 50 minutes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_vmath.h"
#include "jit.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*ApplyFn)(const float *in, float *out, int64_t n);
typedef LLVMValueRef (*EmitFn)(CgModule *cm, LLVMBuilderRef b, LLVMValueRef x);

enum { F_EXP, F_LOG, F_TANH, F_SIGMOID, F_ERF, NFUNC };
static const char *const names[NFUNC] = {"exp", "log", "tanh", "sigmoid", "erf"};
static const EmitFn emits[NFUNC] = {cg_vexp, cg_vlog, cg_vtanh, cg_vsigmoid, cg_verf};

/* A JIT for one target and, per function, the entry points: vector width 16,
 * width 5 (both with a scalar remainder), and scalar only. */
typedef struct Forms {
    const char *label;
    CgTarget t;
    Jit *jit;
    ApplyFn vec16[NFUNC], vec5[NFUNC], scalar[NFUNC];
} Forms;

/* The host target and, on x86-64, the baseline x86-64 (SSE2, no FMA, so
 * llvm.fmuladd becomes a multiply and an add). */
typedef struct Fixture {
    Forms forms[2];
    int nforms;
} Fixture;

/* float <name>_one(float): the scalar form, not inlined so that the loops
 * calling it stay scalar. */
static LLVMValueRef build_scalar_fn(CgModule *cm, int f) {
    char name[64];
    snprintf(name, sizeof name, "%s_one", names[f]);
    LLVMTypeRef ft = LLVMFunctionType(cm->f32, &cm->f32, 1, 0);
    LLVMValueRef fn = cg_function(cm, name, ft);
    unsigned kind = LLVMGetEnumAttributeKindForName("noinline", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cm->ctx, kind, 0));
    LLVMBuilderRef b = LLVMCreateBuilderInContext(cm->ctx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cm->ctx, fn, "entry"));
    LLVMBuildRet(b, emits[f](cm, b, LLVMGetParam(fn, 0)));
    LLVMDisposeBuilder(b);
    return fn;
}

/* void name(ptr in, ptr out, i64 n): `width`-wide vector loop (none when
 * width is 0) over the first n - n % width elements, then the scalar loop. */
static void build_apply(CgModule *cm, const char *name, int f, int width, LLVMValueRef one) {
    LLVMContextRef c = cm->ctx;
    LLVMTypeRef args[] = {cm->ptr, cm->ptr, cm->i64};
    LLVMValueRef fn = cg_function(cm, name, LLVMFunctionType(cm->void_t, args, 3, 0));
    LLVMValueRef in = LLVMGetParam(fn, 0), out = LLVMGetParam(fn, 1), n = LLVMGetParam(fn, 2);
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(c, fn, "entry");
    LLVMBasicBlockRef vhead = LLVMAppendBasicBlockInContext(c, fn, "vhead");
    LLVMBasicBlockRef vbody = LLVMAppendBasicBlockInContext(c, fn, "vbody");
    LLVMBasicBlockRef shead = LLVMAppendBasicBlockInContext(c, fn, "shead");
    LLVMBasicBlockRef sbody = LLVMAppendBasicBlockInContext(c, fn, "sbody");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(c, fn, "done");
    LLVMBuilderRef b = LLVMCreateBuilderInContext(c);
    LLVMPositionBuilderAtEnd(b, entry);
    LLVMValueRef w = cg_i64(cm, width > 0 ? width : 1);
    LLVMValueRef nvec = width > 0 ? LLVMBuildMul(b, LLVMBuildSDiv(b, n, w, ""), w, "") : cg_i64(cm, 0);
    LLVMBuildBr(b, vhead);

    LLVMPositionBuilderAtEnd(b, vhead);
    LLVMValueRef i = LLVMBuildPhi(b, cm->i64, "i");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, i, nvec, ""), vbody, shead);
    LLVMPositionBuilderAtEnd(b, vbody);
    LLVMValueRef inext = LLVMBuildAdd(b, i, w, "");
    if (width > 0) {
        LLVMTypeRef vt = LLVMVectorType(cm->f32, (unsigned)width);
        LLVMValueRef x = LLVMBuildLoad2(b, vt, LLVMBuildGEP2(b, cm->f32, in, &i, 1, ""), "");
        LLVMSetAlignment(x, 4);
        LLVMValueRef st = LLVMBuildStore(b, emits[f](cm, b, x), LLVMBuildGEP2(b, cm->f32, out, &i, 1, ""));
        LLVMSetAlignment(st, 4);
    }
    LLVMBuildBr(b, vhead);
    LLVMValueRef ivals[] = {cg_i64(cm, 0), inext};
    LLVMBasicBlockRef iblocks[] = {entry, vbody};
    LLVMAddIncoming(i, ivals, iblocks, 2);

    LLVMPositionBuilderAtEnd(b, shead);
    LLVMValueRef j = LLVMBuildPhi(b, cm->i64, "j");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, j, n, ""), sbody, done);
    LLVMPositionBuilderAtEnd(b, sbody);
    LLVMValueRef x = LLVMBuildLoad2(b, cm->f32, LLVMBuildGEP2(b, cm->f32, in, &j, 1, ""), "");
    LLVMTypeRef ft = LLVMFunctionType(cm->f32, &cm->f32, 1, 0);
    LLVMBuildStore(b, LLVMBuildCall2(b, ft, one, &x, 1, ""), LLVMBuildGEP2(b, cm->f32, out, &j, 1, ""));
    LLVMValueRef jnext = LLVMBuildAdd(b, j, cg_i64(cm, 1), "");
    LLVMBuildBr(b, shead);
    LLVMValueRef jvals[] = {nvec, jnext};
    LLVMBasicBlockRef jblocks[] = {vhead, sbody};
    LLVMAddIncoming(j, jvals, jblocks, 2);

    LLVMPositionBuilderAtEnd(b, done);
    LLVMBuildRetVoid(b);
    LLVMDisposeBuilder(b);
}

/* Every function, every form, in one module (so the helpers must not clash). */
static int make_forms(Forms *fm, const char *label, const char *mcpu, const char *mattr) {
    char *err = NULL;
    fm->label = label;
    if (cg_target_init(&fm->t, mcpu, mattr, &err))
        return -1;
    fm->jit = jit_new(&fm->t, &err);
    if (!fm->jit)
        return -1;
    CgModule cm;
    cg_module_init(&cm, jit_context(fm->jit), "vmath", &fm->t);
    for (int f = 0; f < NFUNC; f++) {
        LLVMValueRef one = build_scalar_fn(&cm, f);
        char name[64];
        snprintf(name, sizeof name, "%s_v16", names[f]);
        build_apply(&cm, name, f, 16, one);
        snprintf(name, sizeof name, "%s_v5", names[f]);
        build_apply(&cm, name, f, 5, one);
        snprintf(name, sizeof name, "%s_s", names[f]);
        build_apply(&cm, name, f, 0, one);
    }
    if (cg_optimize(cm.mod, &fm->t, &err) || jit_add_module(fm->jit, cm.mod, &err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    for (int f = 0; f < NFUNC; f++) {
        char name[64];
        snprintf(name, sizeof name, "%s_v16", names[f]);
        fm->vec16[f] = (ApplyFn)jit_lookup(fm->jit, name, &err);
        snprintf(name, sizeof name, "%s_v5", names[f]);
        fm->vec5[f] = (ApplyFn)jit_lookup(fm->jit, name, &err);
        snprintf(name, sizeof name, "%s_s", names[f]);
        fm->scalar[f] = (ApplyFn)jit_lookup(fm->jit, name, &err);
        if (!fm->vec16[f] || !fm->vec5[f] || !fm->scalar[f])
            return -1;
    }
    return 0;
}

static int setup(void **state) {
    Fixture *fx = calloc(1, sizeof *fx);
    if (!fx || make_forms(&fx->forms[fx->nforms++], "host", NULL, NULL))
        return -1;
#if defined(__x86_64__)
    if (make_forms(&fx->forms[fx->nforms++], "x86-64, no FMA", "x86-64", "+sse2"))
        return -1;
#endif
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    Fixture *fx = *state;
    for (int i = 0; i < fx->nforms; i++) {
        jit_free(fx->forms[i].jit);
        cg_target_free(&fx->forms[i].t);
    }
    free(fx);
    return 0;
}

static double reference(int f, float x) {
    double d = x;
    switch (f) {
    case F_EXP:
        return exp(d);
    case F_LOG:
        return log(d);
    case F_TANH:
        return tanh(d);
    case F_SIGMOID:
        return 1.0 / (1.0 + exp(-d));
    default:
        return erf(d);
    }
}

/* ---- inputs ---- */

typedef struct Inputs {
    float *x;
    size_t n, cap;
} Inputs;

static void push(Inputs *in, float x) {
    if (in->n == in->cap) {
        in->cap = in->cap ? 2 * in->cap : 1 << 16;
        in->x = realloc(in->x, in->cap * sizeof *in->x);
        assert_non_null(in->x);
    }
    in->x[in->n++] = x;
}

static uint32_t bits_of(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float float_of(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* count uniform steps over [lo, hi] */
static void add_uniform(Inputs *in, double lo, double hi, int count) {
    for (int i = 0; i < count; i++)
        push(in, (float)(lo + (hi - lo) * i / (count - 1)));
}

/* every stride-th float between |lo| and |hi| (positive), with both signs
 * when both is set: a sweep of magnitudes with the same density per binade */
static void add_magnitudes(Inputs *in, float lo, float hi, uint32_t stride, int both) {
    for (uint32_t u = bits_of(lo); u <= bits_of(hi); u += stride) {
        push(in, float_of(u));
        if (both)
            push(in, -float_of(u));
    }
}

/* clang-format off */
static const float specials[] = {
    0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, FLT_MIN, -FLT_MIN, 0x1p-149f, -0x1p-149f, 1e-40f, -1e-40f,
    0x1.fffffcp-127f, FLT_MAX, -FLT_MAX, 1.0f, -1.0f, 0.5f, 2.0f, 1e-5f, -1e-5f, 1e-6f, -1e-6f, 1e-30f, -1e-30f,
    88.0f, 88.72f, 88.7228f, 88.72284f, 88.7229f, 88.73f, 89.0f, 90.0f, 100.0f, 200.0f, -87.33f, -87.34f,
    -100.0f, -103.0f, -103.9f, -103.97f, -103.98f, -104.0f, -105.0f, -110.0f, -200.0f, 0.625f, -0.625f,
    0.62499994f, -0.62499994f, 0.99999994f, -0.99999994f, 3.92f, 4.0f, -4.0f, 4.0000005f, 5.0f, 9.0f, 9.1f, 10.0f,
    17.0f, 20.0f, 0.70710677f, 0.7071068f, 1.4142135f, 1.4142137f, 0.99999994f, 1.0000001f, 0.34657359f,
    -0.34657359f, 0.3465736f, 1e30f, -1e30f, 1e38f, 3.0f, -3.0f, 0.1f, -0.1f, 17.32f, 17.34f, -103.28f, 9.01f,
    -9.01f, 3.91f, 3.93f, -3.93f};
/* clang-format on */

static Inputs make_inputs(int f) {
    Inputs in = {0};
    for (size_t i = 0; i < sizeof specials / sizeof *specials; i++)
        push(&in, specials[i]);
    switch (f) {
    case F_EXP:
        add_uniform(&in, -104.5, 89.5, 1200000);
        add_uniform(&in, -1.0, 1.0, 200000);
        add_magnitudes(&in, 1e-30f, 105.0f, 1000, 1);
        break;
    case F_LOG:
        add_uniform(&in, 0.0, 4.0, 700000);
        add_uniform(&in, 0.5, 2.0, 700000);
        add_magnitudes(&in, 0x1p-149f, FLT_MAX, 2500, 0);
        add_magnitudes(&in, 1e-30f, 1e30f, 20000, 1); /* negative ones too */
        break;
    case F_TANH:
        add_uniform(&in, -10.0, 10.0, 1000000);
        add_uniform(&in, -1.0, 1.0, 400000);
        add_magnitudes(&in, 1e-30f, 12.0f, 1000, 1);
        break;
    case F_SIGMOID:
        add_uniform(&in, -110.0, 20.0, 1000000);
        add_uniform(&in, -5.0, 5.0, 400000);
        add_magnitudes(&in, 1e-30f, 110.0f, 1000, 1);
        break;
    default:
        add_uniform(&in, -5.0, 5.0, 1000000);
        add_uniform(&in, -1.2, 1.2, 400000);
        add_magnitudes(&in, 1e-30f, 6.0f, 1000, 1);
        break;
    }
    return in;
}

/* ---- errors ---- */

/* The unit in the last place of a float near the exact value r. */
static double ulp_at(double r) {
    int e = ilogb(fabs(r));
    if (r == 0.0 || e < -126)
        e = -126;
    return ldexp(1.0, e - 23);
}

static int same(float a, float b) { return (isnan(a) && isnan(b)) || bits_of(a) == bits_of(b); }

typedef struct Stats {
    double max_ulp, max_ulp_x; /* ulp error where the bound is in ulp */
    double max_abs, max_abs_x; /* exp: of denormal results; log: where |log x| < 1 */
    double max_ulp_small;      /* erf: |x| < 1 */
    size_t count, bad;
} Stats;

static void fail_point(Stats *s, int f, float x, float y, double r, const char *why) {
    if (s->bad++ < 10)
        fprintf(stderr, "%s(%a = %.9g) = %a = %.9g, reference %.17g: %s\n", names[f], (double)x, (double)x, (double)y,
                (double)y, r, why);
}

/* Checks y = f(x) against the double reference and the bounds of the brief. */
static void check_point(Stats *s, int f, float x, float y) {
    double r = reference(f, x);
    s->count++;
    if (isnan(r)) {
        if (!isnan(y))
            fail_point(s, f, x, y, r, "not NaN");
        return;
    }
    float rf = (float)r;
    if (isinf(rf) || isinf(y)) {
        if (y != rf)
            fail_point(s, f, x, y, r, "infinity expected or wrong");
        return;
    }
    double abs_err = fabs((double)y - r), ulp = abs_err / ulp_at(r);
    /* abs error: of denormal results for exp, where |log x| < 1 for log */
    if (abs_err > s->max_abs && (f != F_EXP || fabs(r) < FLT_MIN) && (f != F_LOG || fabs(r) < 1.0)) {
        s->max_abs = abs_err;
        s->max_abs_x = x;
    }
    switch (f) {
    case F_EXP:
        if (fabs(r) >= FLT_MIN) {
            if (ulp > s->max_ulp)
                s->max_ulp = ulp, s->max_ulp_x = x;
            if (ulp > 2.0)
                fail_point(s, f, x, y, r, "over 2 ulp");
        } else if (abs_err > 1e-38) {
            fail_point(s, f, x, y, r, "denormal result off by over 1e-38");
        }
        break;
    case F_LOG:
        if (ulp > s->max_ulp)
            s->max_ulp = ulp, s->max_ulp_x = x;
        if (ulp > 2.0)
            fail_point(s, f, x, y, r, "over 2 ulp");
        break;
    case F_TANH:
    case F_SIGMOID:
        if (ulp > s->max_ulp)
            s->max_ulp = ulp, s->max_ulp_x = x;
        if (ulp > 3.0 && abs_err > 2e-7)
            fail_point(s, f, x, y, r, "over 3 ulp and over 2e-7");
        break;
    default:
        if (ulp > s->max_ulp)
            s->max_ulp = ulp, s->max_ulp_x = x;
        if (fabsf(x) < 1.0f && ulp > s->max_ulp_small)
            s->max_ulp_small = ulp;
        if (abs_err > 2e-7)
            fail_point(s, f, x, y, r, "over 2e-7");
        if (fabsf(x) < 1.0f && ulp > 3.0)
            fail_point(s, f, x, y, r, "over 3 ulp");
        break;
    }
}

/* Applies the three forms of f to x[0..n), compares their bits and checks
 * the vector results against the reference. */
static void check_chunk(Forms *fm, int f, const float *x, size_t n, float *y16, float *y5, float *ys, Stats *s,
                        size_t *mismatch) {
    fm->vec16[f](x, y16, (int64_t)n);
    fm->scalar[f](x, ys, (int64_t)n);
    fm->vec5[f](x, y5, (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        if (!same(y16[i], ys[i]) || !same(y5[i], ys[i])) {
            if ((*mismatch)++ < 10)
                fprintf(stderr, "%s(%a): vector %a, width 5 %a, scalar %a\n", names[f], (double)x[i], (double)y16[i],
                        (double)y5[i], (double)ys[i]);
        }
        check_point(s, f, x[i], y16[i]);
    }
}

/* The sweep of make_inputs, or with ATTN_VMATH_EXHAUSTIVE=1 in the
 * environment every float (minutes per function). */
static void sweep_forms(Forms *fm, int f) {
    const char *ex = getenv("ATTN_VMATH_EXHAUSTIVE");
    int exhaustive = ex && *ex && strcmp(ex, "0");
    Inputs in = {0};
    size_t chunk = (size_t)1 << 22;
    if (exhaustive)
        in.x = malloc(chunk * sizeof *in.x);
    else
        in = make_inputs(f);
    size_t cap = exhaustive ? chunk : in.n;
    float *y16 = malloc(cap * sizeof *y16), *y5 = malloc(cap * sizeof *y5), *ys = malloc(cap * sizeof *ys);
    assert_true(in.x && y16 && y5 && ys);
    size_t mismatch = 0;
    Stats s = {0};
    if (exhaustive) {
        for (uint64_t base = 0; base < ((uint64_t)1 << 32); base += chunk) {
            for (size_t i = 0; i < chunk; i++)
                in.x[i] = float_of((uint32_t)(base + i));
            check_chunk(fm, f, in.x, chunk, y16, y5, ys, &s, &mismatch);
        }
    } else {
        check_chunk(fm, f, in.x, in.n, y16, y5, ys, &s, &mismatch);
    }
    printf("vmath %-7s [%s] %zu inputs: max %.3f ulp at x = %.9g", names[f], fm->label, s.count, s.max_ulp,
           s.max_ulp_x);
    if (f == F_ERF)
        printf(", %.3f ulp for |x| < 1", s.max_ulp_small);
    printf(", max abs error%s %.3g at x = %.9g\n",
           f == F_EXP   ? " of denormal results"
           : f == F_LOG ? " where |log x| < 1"
                        : "",
           s.max_abs, s.max_abs_x);
    fflush(stdout);
    assert_int_equal(mismatch, 0);
    assert_int_equal(s.bad, 0);
    assert_true(s.count >= 2000000);
    free(y16);
    free(y5);
    free(ys);
    free(in.x);
}

static void sweep(Fixture *fx, int f) {
    for (int i = 0; i < fx->nforms; i++)
        sweep_forms(&fx->forms[i], f);
}

static void test_exp(void **state) { sweep(*state, F_EXP); }
static void test_log(void **state) { sweep(*state, F_LOG); }
static void test_tanh(void **state) { sweep(*state, F_TANH); }
static void test_sigmoid(void **state) { sweep(*state, F_SIGMOID); }
static void test_erf(void **state) { sweep(*state, F_ERF); }

/* f applied through the vector loop to one value (placed in a full vector) */
static float apply1(Fixture *fx, int f, float x) {
    float in[16], out[16];
    for (int i = 0; i < 16; i++)
        in[i] = x;
    fx->forms[0].vec16[f](in, out, 16);
    return out[0];
}

static int is_neg_zero(float x) { return x == 0.0f && signbit(x); }

/* The special values the brief names, exactly. */
static void test_special_values(void **state) {
    Fixture *fx = *state;
    assert_true(isnan(apply1(fx, F_EXP, NAN)));
    assert_true(apply1(fx, F_EXP, -INFINITY) == 0.0f);
    assert_true(apply1(fx, F_EXP, INFINITY) == INFINITY);
    assert_true(apply1(fx, F_EXP, 88.73f) == INFINITY);
    assert_true(apply1(fx, F_EXP, 88.72f) < INFINITY);
    assert_true(apply1(fx, F_EXP, -104.0f) == 0.0f);
    assert_true(apply1(fx, F_EXP, -103.0f) > 0.0f); /* a denormal */
    assert_true(apply1(fx, F_EXP, 0.0f) == 1.0f);
    assert_true(apply1(fx, F_EXP, -0.0f) == 1.0f);

    assert_true(apply1(fx, F_LOG, 0.0f) == -INFINITY);
    assert_true(apply1(fx, F_LOG, -0.0f) == -INFINITY);
    assert_true(isnan(apply1(fx, F_LOG, -1.0f)));
    assert_true(isnan(apply1(fx, F_LOG, -INFINITY)));
    assert_true(isnan(apply1(fx, F_LOG, -0x1p-149f)));
    assert_true(isnan(apply1(fx, F_LOG, NAN)));
    assert_true(apply1(fx, F_LOG, INFINITY) == INFINITY);
    assert_true(apply1(fx, F_LOG, 1.0f) == 0.0f);
    assert_true(fabsf(apply1(fx, F_LOG, 0x1p-149f) - -103.27893f) <= 1e-5f);

    assert_true(apply1(fx, F_TANH, INFINITY) == 1.0f);
    assert_true(apply1(fx, F_TANH, -INFINITY) == -1.0f);
    assert_true(apply1(fx, F_TANH, 50.0f) == 1.0f);
    assert_true(isnan(apply1(fx, F_TANH, NAN)));
    assert_true(fabsf(apply1(fx, F_TANH, 1e-5f) - 1e-5f) <= 1e-12f);
    assert_true(apply1(fx, F_TANH, 1e-30f) == 1e-30f);
    assert_true(is_neg_zero(apply1(fx, F_TANH, -0.0f)));

    assert_true(apply1(fx, F_SIGMOID, 100.0f) == 1.0f);
    assert_true(apply1(fx, F_SIGMOID, INFINITY) == 1.0f);
    assert_true(apply1(fx, F_SIGMOID, -INFINITY) == 0.0f);
    float s = apply1(fx, F_SIGMOID, -100.0f);
    assert_true(s >= 0.0f && s < 1e-43f);
    assert_true(apply1(fx, F_SIGMOID, 0.0f) == 0.5f);
    assert_true(isnan(apply1(fx, F_SIGMOID, NAN)));

    assert_true(fabsf(apply1(fx, F_ERF, 1e-6f) - 1.1283792e-6f) <= 1e-13f);
    assert_true(apply1(fx, F_ERF, 4.0f) == 1.0f);
    assert_true(apply1(fx, F_ERF, INFINITY) == 1.0f);
    assert_true(apply1(fx, F_ERF, -INFINITY) == -1.0f);
    assert_true(isnan(apply1(fx, F_ERF, NAN)));
    assert_true(is_neg_zero(apply1(fx, F_ERF, -0.0f)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp),     cmocka_unit_test(test_log), cmocka_unit_test(test_tanh),
        cmocka_unit_test(test_sigmoid), cmocka_unit_test(test_erf), cmocka_unit_test(test_special_values),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
