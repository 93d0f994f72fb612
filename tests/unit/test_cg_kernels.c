/*
 * test_cg_kernels.c — the generated kernels of the axis ops (sum, mean, max,
 * argmax, softmax, layer norm) and of the data-movement ops (permute, slice,
 * concat, gather), differentially against the reference kernels of ops/.
 *
 * Each case is a tiny graph (INPUT nodes, then the node under test, typed by
 * shape inference); the cases of one test are built into one module with a
 * wrapper per kernel that takes its operands as an array, compiled once, and
 * run twice: on the calling thread (no pool) and with a two-thread pool.
 * Outputs carry a guard zone after their last byte that must stay intact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_kernel.h"
#include "kernels.h"
#include "lower.h"
#include "threadpool.h"
#include "jit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A dim of a case: a constant extent, or S(i) for symbol i. */
#define S(i) (-1 - (i))
#define SH(...) ((const int64_t[]){__VA_ARGS__})
enum { MAX_CASES = 256, NSYMS = 4, GUARD = 64 };

typedef int32_t (*KernelCall)(void **ctx, void *out, void **in);

typedef struct Case {
    OpKind op;
    OpAttrs attrs;
    int nin;
    int64_t spec[CG_MAX_IN][ATTN_MAX_RANK];
    attn_tensor in[CG_MAX_IN]; /* concrete operands */
    int64_t syms[NSYMS];
    int64_t start_spec, len_spec; /* SLICE */
    int site;
    double rtol;          /* f32 tolerance: |got - want| <= rtol * (1 + |want|); 0: exact */
    int expect;           /* expected return of the kernel */
    int64_t expect_err[3];
    char name[32];
    attn_tensor out;      /* concrete output shape (data unused) */
    OpAttrs ref_attrs;    /* attrs for the reference kernel */
} Case;

typedef struct Batch {
    int n;
    Case cases[MAX_CASES];
} Batch;

static CgTarget target;
static Jit *jit;
static attn_pool *pool;
static int lanes;
static int module_serial;

static int group_setup(void **state) {
    (void)state;
    char *err = NULL;
    if (cg_target_init(&target, NULL, NULL, &err))
        return -1;
    jit = jit_new(&target, &err);
    pool = attn_pool_new(2);
    lanes = cg_target_lanes(&target);
    return jit && pool ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    attn_pool_free(pool);
    jit_free(jit);
    cg_target_free(&target);
    return 0;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}
/* Uniform in [lo, hi). */
static float uniform(float lo, float hi) { return lo + (hi - lo) * (float)(next_u32() >> 8) / 16777216.0f; }

static Batch *batch_new(void) { return calloc(1, sizeof(Batch)); }

static Case *case_new(Batch *bt, OpKind op) {
    assert_true(bt->n < MAX_CASES);
    Case *c = &bt->cases[bt->n++];
    c->op = op;
    c->site = -1;
    c->attrs.step = 1;
    return c;
}

static int64_t spec_value(const Case *c, int64_t spec) { return spec >= 0 ? spec : c->syms[-1 - spec]; }

/* Adds an operand of dtype dt and the given dims (see S), filled with random
 * values: floats in [-2, 2), integers in [-1000, 1000). */
static attn_tensor *case_in(Case *c, attn_dtype dt, int rank, const int64_t *spec) {
    attn_tensor *t = &c->in[c->nin];
    for (int d = 0; d < rank; d++)
        c->spec[c->nin][d] = spec[d];
    c->nin++;
    t->dtype = dt;
    t->rank = rank;
    for (int d = 0; d < rank; d++)
        t->shape[d] = spec_value(c, spec[d]);
    int64_t n = attn_tensor_numel(t);
    t->data = malloc((size_t)(n > 0 ? n : 1) * attn_dtype_size(dt));
    for (int64_t i = 0; i < n; i++) {
        switch (dt) {
        case ATTN_F32: ((float *)t->data)[i] = uniform(-2.0f, 2.0f); break;
        case ATTN_I32: ((int32_t *)t->data)[i] = (int32_t)(next_u32() % 2001) - 1000; break;
        case ATTN_I64: ((int64_t *)t->data)[i] = (int64_t)(next_u32() % 2001) - 1000; break;
        case ATTN_BOOL: ((uint8_t *)t->data)[i] = next_u32() & 1; break;
        }
    }
    return t;
}

static float *fdata(Case *c, int i) { return c->in[i].data; }

static const Dim *dim_of(Arena *ar, int64_t spec) {
    static const char *names[NSYMS] = {"A", "B", "C", "D"};
    return spec >= 0 ? dim_const(ar, spec) : dim_sym(ar, (int)(-1 - spec), names[-1 - spec]);
}

/* The i32 wrapper(ctx, out, in[]) calling kernel fn with in[0..nin). */
static void build_wrapper(CgModule *cm, LLVMValueRef fn, int nin, const char *name) {
    LLVMTypeRef args[] = {cm->ptr, cm->ptr, cm->ptr};
    LLVMValueRef w = cg_function(cm, name, LLVMFunctionType(cm->i32, args, 3, 0));
    LLVMBuilderRef b = LLVMCreateBuilderInContext(cm->ctx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cm->ctx, w, "entry"));
    LLVMValueRef call[CG_MAX_IN + 2] = {LLVMGetParam(w, 0), LLVMGetParam(w, 1)};
    for (int i = 0; i < nin; i++) {
        LLVMValueRef idx = cg_i64(cm, i);
        call[2 + i] = LLVMBuildLoad2(b, cm->ptr, LLVMBuildGEP2(b, cm->ptr, LLVMGetParam(w, 2), &idx, 1, ""), "");
    }
    LLVMBuildRet(b, LLVMBuildCall2(b, LLVMGlobalGetValueType(fn), fn, call, (unsigned)nin + 2, ""));
    LLVMDisposeBuilder(b);
}

/* Builds case c's graph and kernel into cm. */
static void build_case(Arena *ar, CgModule *cm, Case *c) {
    IrGraph *g = ir_graph_new(ar, NULL);
    int ins[CG_MAX_IN];
    SrcLoc loc = {0};
    for (int i = 0; i < c->nin; i++) {
        ins[i] = ir_add(ar, g, OP_INPUT, NULL, 0, loc);
        IrNode *n = &g->nodes[ins[i]];
        n->type.dtype = c->in[i].dtype;
        n->type.rank = c->in[i].rank;
        for (int d = 0; d < c->in[i].rank; d++)
            n->type.dims[d] = dim_of(ar, c->spec[i][d]);
        n->name = "x";
        n->index = g->ninputs++;
    }
    int id = ir_add(ar, g, c->op, ins, c->nin, loc);
    IrNode *n = &g->nodes[id];
    n->attrs = c->attrs;
    if (c->op == OP_SLICE) {
        n->type = g->nodes[ins[0]].type;
        n->type.dims[c->attrs.axis] = dim_of(ar, c->len_spec);
        n->start = dim_of(ar, c->start_spec);
    } else {
        Diag diag = {0};
        bool ok = shape_infer(ar, g, id, &diag);
        if (!ok)
            fprintf(stderr, "%s\n", diag_text(&diag));
        diag_free(&diag);
        assert_true(ok);
    }
    c->ref_attrs = n->attrs;
    if (c->op == OP_SLICE)
        c->ref_attrs.start = spec_value(c, c->start_spec);
    c->out.dtype = n->type.dtype;
    c->out.rank = n->type.rank;
    for (int d = 0; d < n->type.rank; d++)
        assert_true(dim_eval(n->type.dims[d], c->syms, NSYMS, &c->out.shape[d]));
    snprintf(c->name, sizeof c->name, "k%d", module_serial++);
    LLVMValueRef fn = cg_build_kernel(cm, g, n, c->name, c->site, -1);
    char wname[40];
    snprintf(wname, sizeof wname, "%s_call", c->name);
    build_wrapper(cm, fn, c->nin, wname);
}

static bool close_enough(float got, float want, double rtol) {
    if (isnan(want))
        return isnan(got);
    if (rtol == 0)
        return got == want;
    return fabs((double)got - (double)want) <= rtol * (1.0 + fabs((double)want));
}

/* Runs c's kernel with the given pool and checks it. */
static void run_case(Case *c, KernelCall call, attn_pool *p) {
    size_t es = attn_dtype_size(c->out.dtype);
    int64_t numel = attn_tensor_numel(&c->out);
    size_t bytes = (size_t)numel * es;
    unsigned char *got = malloc(bytes + GUARD);
    memset(got, 0xA5, bytes + GUARD);
    void *ins[CG_MAX_IN];
    for (int i = 0; i < c->nin; i++)
        ins[i] = c->in[i].data;
    void *ctx[9] = {0};
    ctx[CTX_SYMS] = c->syms;
    ctx[CTX_POOL] = p;
    int32_t rc = call(ctx, got, ins);
    if (rc != c->expect)
        fprintf(stderr, "%s (%s): returned %d, expected %d\n", c->name, op_name(c->op), rc, c->expect);
    assert_int_equal(rc, c->expect);
    for (size_t i = bytes; i < bytes + GUARD; i++)
        assert_int_equal(got[i], 0xA5);
    if (c->expect != 0) {
        for (int i = 0; i < 3; i++)
            assert_int_equal((int64_t)(intptr_t)ctx[CTX_ERR0 + i], c->expect_err[i]);
        free(got);
        return;
    }
    attn_tensor want = c->out;
    want.data = malloc(bytes + 1);
    op_info[c->op].kernel(&c->ref_attrs, c->in, c->nin, &want);
    if (c->out.dtype == ATTN_F32) {
        const float *g = (const float *)got, *w = want.data;
        for (int64_t i = 0; i < numel; i++) {
            if (!close_enough(g[i], w[i], c->rtol)) {
                fprintf(stderr, "%s (%s, %s pool): element %lld is %.9g, expected %.9g\n", c->name, op_name(c->op),
                        p ? "with" : "no", (long long)i, g[i], w[i]);
                fail();
            }
        }
    } else if (bytes > 0 && memcmp(got, want.data, bytes) != 0) {
        fprintf(stderr, "%s (%s): output differs from the reference\n", c->name, op_name(c->op));
        fail();
    }
    free(want.data);
    free(got);
}

/* Builds every case into one module, compiles it, runs and checks each case
 * without and with the pool, and frees the batch. */
static void batch_run(Batch *bt) {
    Arena ar = {0};
    CgModule cm;
    char mname[32];
    snprintf(mname, sizeof mname, "m%d", module_serial);
    cg_module_init(&cm, jit_context(jit), mname, &target);
    for (int i = 0; i < bt->n; i++)
        build_case(&ar, &cm, &bt->cases[i]);
    char *err = NULL;
    if (cg_optimize(cm.mod, &target, &err)) {
        fprintf(stderr, "%s\n", err);
        fail();
    }
    assert_int_equal(jit_add_module(jit, cm.mod, &err), 0);
    for (int i = 0; i < bt->n; i++) {
        Case *c = &bt->cases[i];
        char wname[40];
        snprintf(wname, sizeof wname, "%s_call", c->name);
        KernelCall call = (KernelCall)jit_lookup(jit, wname, &err);
        assert_non_null(call);
        run_case(c, call, NULL);
        run_case(c, call, pool);
        for (int q = 0; q < c->nin; q++)
            free(c->in[q].data);
    }
    arena_free(&ar);
    free(bt);
}

/* ---- reductions ---- */

/* One case of op over operand shape (rank, spec) along axis. */
static Case *reduce_case(Batch *bt, OpKind op, attn_dtype dt, int rank, const int64_t *spec, int axis, bool keepdim) {
    Case *c = case_new(bt, op);
    c->attrs.axis = axis;
    c->attrs.keepdim = keepdim;
    c->rtol = op == OP_SUM || op == OP_MEAN ? 1e-6 : 0;
    c->syms[0] = 3;
    c->syms[1] = lanes + 5;
    c->syms[2] = 1;
    case_in(c, dt, rank, spec);
    return c;
}

static void test_reductions(void **state) {
    (void)state;
    const OpKind ops[] = {OP_SUM, OP_MEAN, OP_MAX, OP_ARGMAX};
    const int64_t L = lanes;
    for (int o = 0; o < 4; o++) {
        Batch *bt = batch_new();
        OpKind op = ops[o];
        /* MEAN shares SUM's code: fewer cases */
        const int64_t sizes[] = {1, L + 1, 1001, L - 1, L, 4 * L - 1, 4 * L + 3, 13};
        for (int s = 0; s < (op == OP_SUM ? 8 : 3); s++)
            reduce_case(bt, op, ATTN_F32, 1, SH(sizes[s]), 0, s & 1);
        for (int axis = 0; axis < 3; axis++) {
            reduce_case(bt, op, ATTN_F32, 3, SH(5, 7, L + 1), axis, axis == 1);
            if (op == OP_MEAN)
                continue;
            reduce_case(bt, op, ATTN_F32, 3, SH(2, L - 1, 3 * L + 2), axis, false);
            if (op == OP_SUM)
                reduce_case(bt, op, ATTN_F32, 3, SH(L + 3, 11, 1), axis, axis == 2);
        }
        reduce_case(bt, op, ATTN_F32, 2, SH(300, 1001), 1, false);
        reduce_case(bt, op, ATTN_F32, 2, SH(300, 1001), 0, true);
        /* big outputs: split over the pool, strided (axis 0) and contiguous */
        reduce_case(bt, op, ATTN_F32, 2, SH(3, 40000 + 3), 0, false);
        if (op != OP_MEAN)
            reduce_case(bt, op, ATTN_F32, 3, SH(33000, 2, 3), 2, false);
        /* symbols: rows, axis and inner extents known only per call */
        reduce_case(bt, op, ATTN_F32, 2, SH(S(0), S(1)), 1, false);
        if (op != OP_MEAN)
            reduce_case(bt, op, ATTN_F32, 2, SH(S(0), S(1)), 0, true);
        reduce_case(bt, op, ATTN_F32, 3, SH(S(0), S(1), S(2)), 1, false); /* inner = 1 at run time */
        reduce_case(bt, op, ATTN_F32, 3, SH(2, S(1), S(1)), 1, false);
        batch_run(bt);
    }
}

/* Rows with NaN and -inf: max and argmax propagate NaN (argmax: the first);
 * argmax takes the first of equal maxima. */
static void test_max_argmax_special(void **state) {
    (void)state;
    const int64_t L = lanes, n = 3 * L + 5;
    for (int o = 0; o < 2; o++) {
        OpKind op = o ? OP_ARGMAX : OP_MAX;
        Batch *bt = batch_new();
        for (int axis = 0; axis < 2; axis++) {
            /* contiguous rows (axis 1 of [8, n]) and strided rows (axis 0 of [n, 8]) */
            Case *c = reduce_case(bt, op, ATTN_F32, 2, axis ? SH(8, n) : SH(n, 8), axis, false);
            float *x = fdata(c, 0);
            for (int64_t r = 0; r < 8; r++) {
                for (int64_t j = 0; j < n; j++) {
                    float *e = axis ? &x[r * n + j] : &x[j * 8 + r];
                    switch (r) {
                    case 0: *e = -INFINITY; break;                                   /* all -inf */
                    case 1: *e = j == n - 1 ? NAN : (float)j; break;                 /* NaN last */
                    case 2: *e = j == 2 || j == n - 2 ? NAN : 1.0f; break;           /* two NaNs */
                    case 3: *e = (j % 5 == 3) ? 7.0f : 0.0f; break;                  /* equal maxima */
                    case 4: *e = j == 0 ? NAN : -INFINITY; break;                    /* NaN first */
                    case 5: *e = j == n - 1 ? 1.0f : -INFINITY; break;               /* max last */
                    case 6: *e = j == L ? INFINITY : (float)-j; break;               /* +inf */
                    default: *e = -1e30f; break;                                     /* all equal */
                    }
                }
            }
        }
        batch_run(bt);
    }
}

/* Integer sums wrap in the element type. */
static void test_integer_sums(void **state) {
    (void)state;
    const int64_t L = lanes;
    Batch *bt = batch_new();
    for (int t = 0; t < 2; t++) {
        attn_dtype dt = t ? ATTN_I64 : ATTN_I32;
        reduce_case(bt, OP_SUM, dt, 1, SH(4 * L + 3), 0, false);
        reduce_case(bt, OP_SUM, dt, 2, SH(7, 2 * L + 1), 1, true);
        reduce_case(bt, OP_SUM, dt, 2, SH(2 * L + 1, L + 3), 0, false);
        reduce_case(bt, OP_SUM, dt, 3, SH(S(0), S(1), S(2)), 1, false);
        Case *c = reduce_case(bt, OP_SUM, dt, 2, SH(3, 2 * L + 3), 1, false); /* overflowing */
        for (int64_t i = 0; i < 3 * (2 * L + 3); i++) {
            if (dt == ATTN_I32)
                ((int32_t *)c->in[0].data)[i] = INT32_MAX - (int32_t)i;
            else
                ((int64_t *)c->in[0].data)[i] = INT64_MAX - i;
        }
    }
    batch_run(bt);
}

/* ---- softmax and layer norm ---- */

static void test_softmax(void **state) {
    (void)state;
    const int64_t L = lanes;
    Batch *bt = batch_new();
    const int64_t sizes[] = {1, L - 1, L + 1, 4 * L + 3, 1001};
    for (int s = 0; s < 5; s++) {
        Case *c = reduce_case(bt, OP_SOFTMAX, ATTN_F32, 2, SH(3, sizes[s]), 1, false);
        c->rtol = 1e-6;
    }
    for (int axis = 0; axis < 3; axis++) {
        reduce_case(bt, OP_SOFTMAX, ATTN_F32, 3, SH(5, L + 1, 2 * L + 3), axis, false)->rtol = 1e-6;
        if (axis == 1) /* inner known per call */
            reduce_case(bt, OP_SOFTMAX, ATTN_F32, 3, SH(S(0), S(1), S(2)), axis, false)->rtol = 1e-6;
    }
    reduce_case(bt, OP_SOFTMAX, ATTN_F32, 2, SH(300, 1001), 1, false)->rtol = 1e-6;
    reduce_case(bt, OP_SOFTMAX, ATTN_F32, 2, SH(300, 1001), 0, false)->rtol = 1e-6;
    /* NaN, all -inf and +inf rows become NaN; -inf elements become 0 */
    for (int axis = 0; axis < 2; axis++) {
        const int64_t n = 2 * L + 3;
        Case *c = reduce_case(bt, OP_SOFTMAX, ATTN_F32, 2, axis ? SH(5, n) : SH(n, 5), axis, false);
        c->rtol = 1e-6;
        float *x = fdata(c, 0);
        for (int64_t r = 0; r < 5; r++)
            for (int64_t j = 0; j < n; j++) {
                float *e = axis ? &x[r * n + j] : &x[j * 5 + r];
                if (r == 0)
                    *e = -INFINITY;
                else if (r == 1 && j == n / 2)
                    *e = NAN;
                else if (r == 2 && j % 3 == 0)
                    *e = -INFINITY;
                else if (r == 3 && j == 1)
                    *e = INFINITY;
                else if (r == 4)
                    *e = 80.0f + (float)j; /* large: relies on subtracting the max */
            }
    }
    batch_run(bt);
}

static void test_layer_norm(void **state) {
    (void)state;
    const int64_t L = lanes;
    Batch *bt = batch_new();
    const int64_t sizes[] = {1, L - 1, L, L + 1, 4 * L + 3, 37, 768, 1001};
    for (int s = 0; s < 8 + 3; s++) { /* operands: x, x and weight, x, weight and bias */
        int64_t d = sizes[s % 8];
        Case *c = case_new(bt, OP_LAYER_NORM);
        c->attrs.eps = s == 0 ? 1e-5 : 1e-6 * (s + 1);
        c->rtol = 2e-6;
        case_in(c, ATTN_F32, 3, SH(2, 3, d));
        for (int i = 1; i < (s < 8 ? s % 3 + 1 : 3); i++)
            case_in(c, ATTN_F32, 1, SH(d));
    }
    Case *c = case_new(bt, OP_LAYER_NORM); /* symbolic rows and width, shifted data */
    c->attrs.eps = 1e-5;
    c->rtol = 2e-6;
    c->syms[0] = 5;
    c->syms[1] = 3 * L + 1;
    case_in(c, ATTN_F32, 2, SH(S(0), S(1)));
    case_in(c, ATTN_F32, 1, SH(S(1)));
    case_in(c, ATTN_F32, 1, SH(S(1)));
    for (int64_t i = 0; i < 5 * (3 * L + 1); i++)
        fdata(c, 0)[i] += 10.0f;
    c = case_new(bt, OP_LAYER_NORM); /* big: split over the pool */
    c->attrs.eps = 1e-5;
    c->rtol = 2e-6;
    case_in(c, ATTN_F32, 2, SH(300, 1001));
    case_in(c, ATTN_F32, 1, SH(1001));
    case_in(c, ATTN_F32, 1, SH(1001));
    batch_run(bt);
}

/* ---- data movement ---- */

static const attn_dtype all_dtypes[] = {ATTN_F32, ATTN_I32, ATTN_I64, ATTN_BOOL};

static void test_permute(void **state) {
    (void)state;
    const int64_t L = lanes;
    Batch *bt = batch_new();
    static const int64_t perms[][4] = {{0, 2, 1, 3}, {0, 1, 3, 2}, {3, 2, 1, 0}, {1, 0, 2, 3},
                                       {2, 0, 3, 1}, {0, 1, 2, 3}, {1, 2, 3, 0}};
    for (int p = 0; p < 7; p++) {
        for (int t = 0; t < 2; t++) {
            Case *c = case_new(bt, OP_PERMUTE);
            memcpy(c->attrs.perm, perms[p], sizeof perms[p]);
            case_in(c, all_dtypes[(p + t) % 4], 4, t == 1 ? SH(2, 1, L + 1, 3) : SH(2, 3, L + 1, 5));
        }
        Case *c = case_new(bt, OP_PERMUTE); /* symbolic */
        memcpy(c->attrs.perm, perms[p], sizeof perms[p]);
        c->syms[0] = 3;
        c->syms[1] = 1;
        case_in(c, ATTN_F32, 4, SH(S(0), 4, S(1), L - 1));
    }
    Case *c = case_new(bt, OP_PERMUTE); /* 2-D transpose, big */
    c->attrs.perm[0] = 1;
    case_in(c, ATTN_F32, 2, SH(300, 1001));
    c = case_new(bt, OP_PERMUTE); /* heads: [B, T, H, D] -> [B, H, T, D], big */
    memcpy(c->attrs.perm, perms[0], sizeof perms[0]);
    case_in(c, ATTN_F32, 4, SH(2, 128, 12, 64));
    c = case_new(bt, OP_PERMUTE); /* rank 0 */
    case_in(c, ATTN_I64, 0, NULL);
    batch_run(bt);
}

static Case *slice_case(Batch *bt, attn_dtype dt, int rank, const int64_t *spec, int axis, int64_t start,
                        int64_t len, int64_t step) {
    Case *c = case_new(bt, OP_SLICE);
    c->attrs.axis = axis;
    c->attrs.step = step;
    c->start_spec = start;
    c->len_spec = len;
    c->syms[0] = 4;
    c->syms[1] = 9;
    case_in(c, dt, rank, spec);
    return c;
}

static void test_slice(void **state) {
    (void)state;
    const int64_t L = lanes;
    Batch *bt = batch_new();
    for (int t = 0; t < 4; t++) {
        attn_dtype dt = all_dtypes[t];
        for (int axis = 0; axis < 3; axis++) { /* other dtypes: fewer cases */
            slice_case(bt, dt, 3, SH(7, 11, L + 1), axis, 2, 2, 3)->site = 0;
            if (t > 0)
                continue;
            slice_case(bt, dt, 3, SH(7, 11, L + 1), axis, 1, 4, 1)->site = 3;
            slice_case(bt, dt, 3, SH(7, 11, L + 1), axis, 0, 3, 2);
            slice_case(bt, dt, 3, SH(7, 11, L + 1), axis, 5, 0, 1)->site = 0; /* empty */
        }
        /* symbolic start and extents */
        slice_case(bt, dt, 3, SH(3, S(1), 2), 1, S(0), 2, 2)->site = 2;
        if (t > 0)
            continue;
        slice_case(bt, dt, 2, SH(S(1), 5), 0, S(0), 5, 1)->site = 2;
        slice_case(bt, dt, 2, SH(S(1), S(1)), 1, S(0), 1, 1);
    }
    slice_case(bt, ATTN_F32, 2, SH(300, 1001), 1, 100, 700, 1); /* big */
    slice_case(bt, ATTN_F32, 2, SH(1001, 300), 0, 1, 500, 2);
    /* out of range: start beyond the extent, negative start, last index at the extent */
    Case *c = slice_case(bt, ATTN_F32, 2, SH(3, S(1)), 1, S(0), 6, 1);
    c->site = 4;
    c->expect = 5;
    c->expect_err[0] = 4, c->expect_err[1] = 6, c->expect_err[2] = 9;
    c = slice_case(bt, ATTN_I32, 2, SH(S(1), 2), 0, S(0), 2, 3);
    c->syms[0] = -1;
    c->site = 0;
    c->expect = 1;
    c->expect_err[0] = -1, c->expect_err[1] = 2, c->expect_err[2] = 9;
    c = slice_case(bt, ATTN_BOOL, 2, SH(S(1), 2), 0, S(0), 2, 5);
    c->site = 1;
    c->expect = 2;
    c->expect_err[0] = 4, c->expect_err[1] = 2, c->expect_err[2] = 9;
    batch_run(bt);
}

static void test_concat(void **state) {
    (void)state;
    const int64_t L = lanes;
    Batch *bt = batch_new();
    for (int t = 0; t < 4; t++) {
        for (int axis = 0; axis < 3; axis++) {
            Case *c = case_new(bt, OP_CONCAT);
            c->attrs.axis = axis;
            for (int q = 0; q < 3; q++) {
                int64_t spec[3] = {2, 3, L + 1};
                spec[axis] = q + 1 + (q == 1 ? L : 0);
                case_in(c, all_dtypes[t], 3, spec);
            }
        }
        Case *c = case_new(bt, OP_CONCAT); /* symbolic extents, one of them 0 */
        c->attrs.axis = 1;
        c->syms[0] = 3;
        c->syms[1] = 0;
        case_in(c, all_dtypes[t], 2, SH(S(0), 5));
        case_in(c, all_dtypes[t], 2, SH(S(0), S(1)));
        case_in(c, all_dtypes[t], 2, SH(S(0), S(0)));
    }
    Case *c = case_new(bt, OP_CONCAT); /* 64 operands */
    c->attrs.axis = 1;
    for (int q = 0; q < CG_MAX_IN; q++)
        case_in(c, ATTN_F32, 2, SH(5, q % 3 + 1));
    c = case_new(bt, OP_CONCAT); /* one operand */
    case_in(c, ATTN_I64, 1, SH(L + 1));
    c = case_new(bt, OP_CONCAT); /* big */
    c->attrs.axis = 1;
    case_in(c, ATTN_F32, 2, SH(300, 1001));
    case_in(c, ATTN_F32, 2, SH(300, 77));
    batch_run(bt);
}

/* Gather case: table [V, spec...] of dtype dt, ids of dtype idt and shape ids. */
static Case *gather_case(Batch *bt, attn_dtype dt, int trank, const int64_t *tspec, attn_dtype idt, int irank,
                         const int64_t *ispec) {
    Case *c = case_new(bt, OP_GATHER);
    c->syms[0] = 3;
    c->syms[1] = 50;
    attn_tensor *t = case_in(c, dt, trank, tspec);
    attn_tensor *ids = case_in(c, idt, irank, ispec);
    int64_t n = attn_tensor_numel(ids);
    for (int64_t i = 0; i < n; i++) {
        int64_t id = (int64_t)(next_u32() % (uint32_t)t->shape[0]);
        if (idt == ATTN_I32)
            ((int32_t *)ids->data)[i] = (int32_t)id;
        else
            ((int64_t *)ids->data)[i] = id;
    }
    return c;
}

static void set_id(Case *c, int64_t i, int64_t id) {
    if (c->in[1].dtype == ATTN_I32)
        ((int32_t *)c->in[1].data)[i] = (int32_t)id;
    else
        ((int64_t *)c->in[1].data)[i] = id;
}

static void test_gather(void **state) {
    (void)state;
    const int64_t L = lanes;
    Batch *bt = batch_new();
    for (int t = 0; t < 4; t++) {
        for (int i = 0; i < 2; i++) {
            attn_dtype idt = i ? ATTN_I32 : ATTN_I64;
            gather_case(bt, all_dtypes[t], 2, SH(17, L + 1), idt, 2, SH(3, 7))->site = 0;
            if (i)
                gather_case(bt, all_dtypes[t], 1, SH(17), idt, 1, SH(L))->site = 0;
            else
                gather_case(bt, all_dtypes[t], 3, SH(5, 2, 3), idt, 0, NULL);
            if (t == 0)
                gather_case(bt, all_dtypes[t], 2, SH(S(1), 3), idt, 2, SH(S(0), 4))->site = 1;
        }
    }
    gather_case(bt, ATTN_F32, 2, SH(1000, 768), ATTN_I64, 2, SH(4, 128))->site = 0; /* big */
    gather_case(bt, ATTN_F32, 2, SH(1000, 768), ATTN_I32, 1, SH(0))->site = 0;     /* no ids */
    /* bad ids: an error naming the first one, nothing written past the output */
    for (int i = 0; i < 2; i++) {
        attn_dtype idt = i ? ATTN_I32 : ATTN_I64;
        Case *c = gather_case(bt, ATTN_F32, 2, SH(17, 5), idt, 2, SH(3, 7));
        set_id(c, 9, 17);
        set_id(c, 15, -1);
        c->site = 6;
        c->expect = 7;
        c->expect_err[0] = 17, c->expect_err[1] = 9, c->expect_err[2] = 17;
        c = gather_case(bt, ATTN_I64, 2, SH(S(1), 2), idt, 1, SH(S(0)));
        set_id(c, 1, -5);
        c->site = 0;
        c->expect = 1;
        c->expect_err[0] = -5, c->expect_err[1] = 1, c->expect_err[2] = 50;
        c = gather_case(bt, ATTN_F32, 2, SH(1000, 768), idt, 2, SH(4, 128)); /* big: split over the pool */
        set_id(c, 300, 1000);
        set_id(c, 400, -3);
        c->site = 2;
        c->expect = 3;
        c->expect_err[0] = 1000, c->expect_err[1] = 300, c->expect_err[2] = 1000;
        /* without an error site, rows of bad ids are zeros like the reference's */
        c = gather_case(bt, ATTN_F32, 2, SH(17, 5), idt, 1, SH(9));
        set_id(c, 2, 17);
        set_id(c, 4, -1);
    }
    batch_run(bt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reductions), cmocka_unit_test(test_max_argmax_special),
        cmocka_unit_test(test_integer_sums), cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_layer_norm), cmocka_unit_test(test_permute),
        cmocka_unit_test(test_slice), cmocka_unit_test(test_concat),
        cmocka_unit_test(test_gather),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
