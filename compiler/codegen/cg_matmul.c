/*
 * cg_matmul.c — the generated GEMM (see cg_matmul.h).
 *
 * Shape of the code, for a target with L floats per vector:
 *
 *  - micro-kernels: an MR x NR tile of C (NR = NV vectors of L floats) held in
 *    registers over a block of K; per step of K, NV vector loads of a packed B
 *    row, MR broadcasts of A, MR*NV fused multiply-adds. One kernel per
 *    (rows, vectors) pair so that edge tiles compute only what they need;
 *    edge columns are stored with masks, never touching C out of bounds.
 *  - blocking: B is packed in panels of NR columns (runtime/rt/pack.h), A in
 *    panels of MR rows for one KC block at a time (a small per-task stack
 *    buffer that stays in L1 while the KC x NC block of B streams from L2).
 *  - small M (<= SMALL_M rows, e.g. one step of a recurrent network): no A
 *    packing, all of K in one pass per panel, several accumulator sets per
 *    row so that enough independent FMA chains hide the latency while B
 *    streams from memory once.
 *  - threads: independent tiles of C (an even grid of MR-row and NR-column
 *    panels) over attn_rt_parallel_for.
 *  - epilogue (optional callback, contract in cg_matmul.h): each finished
 *    MR-row strip of a block of panels, in the last KC block; on the small-M
 *    path each column panel; after the kernels that stored it.
 */
#include "cg_matmul.h"
#include "cg_core_util.h"
#include "pack.h"

#include <stdio.h>

enum { SMALL_M = 4, MAX_MR = 16, MAX_NV = 32, MAX_U = 8 };

/* Tile and block sizes for one lane count. */
typedef struct Shape {
    CoreTile tile;
    int KC;  /* rows of K per block */
    int NCP; /* panels of B per block of columns (the KC x NCP*NR block stays in L2) */
} Shape;

static Shape shape_for(const CgTarget *t) {
    Shape s;
    s.tile = core_tile(t);
    s.KC = 256;
    s.NCP = (int)((480 * 1024 / 4 / s.KC) / s.tile.NR); /* about 480 KB of B per block */
    if (s.NCP < 1)
        s.NCP = 1;
    return s;
}

/* ---- micro-kernels ---------------------------------------------------- */

/* void kernel(i64 kc, ptr A, i64 a_rs, i64 a_cs, ptr B, i64 b_rs, ptr C, i64 ldc, i64 nr, i64 accumulate) */
static LLVMTypeRef kernel_type(CgModule *cm) {
    LLVMTypeRef p[] = {cm->i64, cm->ptr, cm->i64, cm->i64, cm->ptr, cm->i64, cm->ptr, cm->i64, cm->i64, cm->i64};
    return LLVMFunctionType(cm->void_t, p, 10, 0);
}

enum { B_PACKED, B_DIRECT, B_DIRECT_MASKED };

/* C[0..mr, 0..min(nr, nv*L)) (+)= A[0..mr, 0..kc) * B[0..kc, 0..nv*L).
 * A: packed (element (i, p) at A[p*MR + i]) or direct (A[i*a_rs + p*a_cs]).
 * B: packed (row p at B + p*NR) or direct (row p at B + p*b_rs, contiguous,
 *    masked loads past column nr). u accumulator sets split K. */
static LLVMValueRef emit_kernel(CgModule *cm, const Shape *s, const char *name, int mr, int nv, bool a_packed,
                                int b_mode, int u) {
    LLVMValueRef fn = new_function(cm, name, kernel_type(cm), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef kc = LLVMGetParam(fn, 0), A = LLVMGetParam(fn, 1), a_rs = LLVMGetParam(fn, 2),
                 a_cs = LLVMGetParam(fn, 3), B = LLVMGetParam(fn, 4), b_rs = LLVMGetParam(fn, 5),
                 C = LLVMGetParam(fn, 6), ldc = LLVMGetParam(fn, 7), nr = LLVMGetParam(fn, 8),
                 accumulate = LLVMGetParam(fn, 9);
    const int L = s->tile.L;
    LLVMTypeRef vt = LLVMVectorType(cm->f32, (unsigned)L);
    LLVMValueRef zero = LLVMConstNull(vt);
    LLVMValueRef acc[MAX_U][MAX_MR][MAX_NV];
    for (int k = 0; k < u; k++)
        for (int i = 0; i < mr; i++)
            for (int v = 0; v < nv; v++)
                acc[k][i][v] = var(f, vt, zero);
    LLVMValueRef bmask[MAX_NV] = {0};
    if (b_mode == B_DIRECT_MASKED)
        for (int v = 0; v < nv; v++)
            bmask[v] = lane_mask(f, sub(f, nr, k64(f, (int64_t)v * L)), L);
    LLVMValueRef arow[MAX_MR];
    if (!a_packed)
        for (int i = 0; i < mr; i++)
            arow[i] = gepf(f, A, mul(f, k64(f, i), a_rs));

    /* one step of K (row p) into accumulator set k */
#define STEP(p, k)                                                                                                     \
    do {                                                                                                               \
        LLVMValueRef bv[MAX_NV];                                                                                       \
        LLVMValueRef brow =                                                                                            \
            b_mode == B_PACKED ? gepf(f, B, mul(f, (p), k64(f, s->tile.NR))) : gepf(f, B, mul(f, (p), b_rs));          \
        for (int v = 0; v < nv; v++) {                                                                                 \
            LLVMValueRef bp = gepf(f, brow, k64(f, (int64_t)v * L));                                                   \
            bv[v] = b_mode == B_DIRECT_MASKED ? masked_load(f, vt, bp, bmask[v], zero) : load4(f, vt, bp);             \
        }                                                                                                              \
        for (int i = 0; i < mr; i++) {                                                                                 \
            LLVMValueRef ap = a_packed ? gepf(f, A, add(f, mul(f, (p), k64(f, s->tile.MR)), k64(f, i)))                \
                                       : gepf(f, arow[i], mul(f, (p), a_cs));                                          \
            LLVMValueRef a = splat(f, load4(f, cm->f32, ap), L);                                                       \
            for (int v = 0; v < nv; v++) {                                                                             \
                LLVMValueRef c = LLVMBuildLoad2(f->b, vt, acc[k][i][v], "");                                           \
                LLVMBuildStore(f->b, fma_v(f, a, bv[v], c), acc[k][i][v]);                                             \
            }                                                                                                          \
        }                                                                                                              \
    } while (0)

    LLVMValueRef kmain = u > 1 ? sub(f, kc, LLVMBuildSRem(f->b, kc, k64(f, u), "")) : kc;
    Loop lp;
    LLVMValueRef p = loop_begin(f, &lp, k64(f, 0), kmain, k64(f, u));
    for (int k = 0; k < u; k++)
        STEP(add(f, p, k64(f, k)), k);
    loop_end(f, &lp);
    if (u > 1) {
        Loop lr;
        p = loop_begin(f, &lr, kmain, kc, k64(f, 1));
        STEP(p, 0);
        loop_end(f, &lr);
    }
#undef STEP
    LLVMValueRef val[MAX_MR][MAX_NV];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nv; v++) {
            val[i][v] = LLVMBuildLoad2(f->b, vt, acc[0][i][v], "");
            for (int k = 1; k < u; k++)
                val[i][v] = cg_fast(LLVMBuildFAdd(f->b, val[i][v], LLVMBuildLoad2(f->b, vt, acc[k][i][v], ""), ""));
        }

    /* store: full width or masked columns; overwrite or accumulate */
    If full, acc_if;
    if_begin(f, &full, cmp(f, LLVMIntSGE, nr, k64(f, (int64_t)nv * L)));
    for (int masked = 0; masked < 2; masked++) {
        if (masked)
            if_else(f, &full);
        LLVMValueRef cmask[MAX_NV] = {0};
        if (masked)
            for (int v = 0; v < nv; v++)
                cmask[v] = lane_mask(f, sub(f, nr, k64(f, (int64_t)v * L)), L);
        if_begin(f, &acc_if, cmp(f, LLVMIntNE, accumulate, k64(f, 0)));
        for (int add_c = 1; add_c >= 0; add_c--) {
            if (!add_c)
                if_else(f, &acc_if);
            for (int i = 0; i < mr; i++) {
                LLVMValueRef crow = gepf(f, C, mul(f, k64(f, i), ldc));
                for (int v = 0; v < nv; v++) {
                    LLVMValueRef cp = gepf(f, crow, k64(f, (int64_t)v * L));
                    LLVMValueRef x = val[i][v];
                    if (add_c) {
                        LLVMValueRef old = masked ? masked_load(f, vt, cp, cmask[v], zero) : load4(f, vt, cp);
                        x = LLVMBuildFAdd(f->b, old, x, "");
                    }
                    if (masked)
                        masked_store(f, x, cp, cmask[v], 4);
                    else
                        store4(f, x, cp);
                }
            }
        }
        if_end(f, &acc_if);
    }
    if_end(f, &full);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}

/* Two-source shuffle of x and y: element e of the result is element idx[e]
 * of x (idx < L) or idx[e] - L of y. */
static LLVMValueRef shuffle2(Fn *f, LLVMValueRef x, LLVMValueRef y, const int *idx, int L) {
    LLVMValueRef m[MAX_NV * 16];
    for (int e = 0; e < L; e++)
        m[e] = LLVMConstInt(f->cm->i32, (unsigned long long)idx[e], 0);
    return LLVMBuildShuffleVector(f->b, x, y, LLVMConstVector(m, (unsigned)L), "");
}

/* 16 steps of K of 8 whole rows, rows contiguous (a_cs == 1): 8 vector loads,
 * a transposition in three rounds of two-source shuffles (pairs of rows, then
 * fours, then eights: each round doubles the rows a vector holds and halves
 * its columns), 8 vector stores of two packed steps each. Scalar gathers
 * (8 loads and inserts per step) made packing about 3% of a recurrent
 * step's product. */
static void pack_a_16x8(Fn *f, LLVMValueRef *arow, LLVMValueRef p, LLVMValueRef out) {
    enum { L = 16, R = 8 };
    LLVMTypeRef vt = LLVMVectorType(f->cm->f32, L);
    LLVMValueRef r[R], t[R], u[R];
    int idx[L];
    for (int i = 0; i < R; i++)
        r[i] = load4(f, vt, gepf(f, arow[i], p));
    /* t[2k+h]: rows 2k, 2k+1 interleaved, columns 8h..8h+7 */
    for (int k = 0; k < R / 2; k++)
        for (int h = 0; h < 2; h++) {
            for (int e = 0; e < L; e++)
                idx[e] = (e % 2) * L + 8 * h + e / 2;
            t[2 * k + h] = shuffle2(f, r[2 * k], r[2 * k + 1], idx, L);
        }
    /* u[4g+2h+q]: rows 4g..4g+3, columns 8h+4q..8h+4q+3 */
    for (int g = 0; g < 2; g++)
        for (int h = 0; h < 2; h++)
            for (int q = 0; q < 2; q++) {
                for (int e = 0; e < L; e++)
                    idx[e] = (e % 4 < 2 ? 0 : L) + (4 * q + e / 4) * 2 + e % 2;
                u[4 * g + 2 * h + q] = shuffle2(f, t[4 * g + h], t[4 * g + 2 + h], idx, L);
            }
    /* u[v] (rows 0..3) and u[4+v] (rows 4..7) hold columns 4v..4v+3: out
     * vectors of rows 0..7 of columns 4v+2q, 4v+2q+1 */
    for (int v = 0; v < 4; v++)
        for (int q = 0; q < 2; q++) {
            for (int e = 0; e < L; e++)
                idx[e] = (e % 8 < 4 ? 0 : L) + (2 * q + e / 8) * 4 + e % 4;
            LLVMValueRef o = shuffle2(f, u[v], u[4 + v], idx, L);
            store4(f, o, gepf(f, out, mul(f, add(f, p, k64(f, 4 * v + 2 * q)), k64(f, R))));
        }
}

/* void pack_a(i64 kc, ptr A, i64 a_rs, i64 a_cs, ptr out): out[p*MR + i] = A[i*a_rs + p*a_cs]
 * for i < mr (rows mr..MR are zero), p < kc. */
static LLVMValueRef emit_pack_a(CgModule *cm, const Shape *s, const char *name, int mr) {
    LLVMTypeRef pt[] = {cm->i64, cm->ptr, cm->i64, cm->i64, cm->ptr};
    LLVMValueRef fn = new_function(cm, name, LLVMFunctionType(cm->void_t, pt, 5, 0), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef kc = LLVMGetParam(fn, 0), A = LLVMGetParam(fn, 1), a_rs = LLVMGetParam(fn, 2),
                 a_cs = LLVMGetParam(fn, 3), out = LLVMGetParam(fn, 4);
    LLVMTypeRef vt = LLVMVectorType(cm->f32, (unsigned)s->tile.MR);
    LLVMValueRef arow[MAX_MR];
    for (int i = 0; i < mr; i++)
        arow[i] = gepf(f, A, mul(f, k64(f, i), a_rs));
    LLVMValueRef start = k64(f, 0);
    if (mr == 8 && s->tile.MR == 8 && s->tile.L == 16) {
        LLVMValueRef unit = cmp(f, LLVMIntEQ, a_cs, k64(f, 1));
        LLVMValueRef whole = LLVMBuildSelect(f->b, unit, LLVMBuildAnd(f->b, kc, k64(f, -16), ""), k64(f, 0), "");
        Loop lv;
        LLVMValueRef p = loop_begin(f, &lv, k64(f, 0), whole, k64(f, 16));
        pack_a_16x8(f, arow, p, out);
        loop_end(f, &lv);
        start = whole;
    }
    Loop lp;
    LLVMValueRef p = loop_begin(f, &lp, start, kc, k64(f, 1));
    LLVMValueRef off = mul(f, p, a_cs);
    LLVMValueRef v = LLVMConstNull(vt);
    for (int i = 0; i < mr; i++)
        v = LLVMBuildInsertElement(f->b, v, load4(f, cm->f32, gepf(f, arow[i], off)),
                                   LLVMConstInt(cm->i32, (unsigned long long)i, 0), "");
    store4(f, v, gepf(f, out, mul(f, p, k64(f, s->tile.MR))));
    loop_end(f, &lp);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}

/* ---- tasks and drivers ------------------------------------------------ */

/* The context a driver hands to its tasks: pointers first (up to F_EPI_ARG), then i64s. */
enum {
    F_A, F_B, F_C, F_BUF, F_EPI, F_EPI_ARG,
    F_M, F_N, F_K, F_ARS, F_ACS, F_BRS, F_BCS, F_LDC, F_TM, F_TN, F_MP, F_NP, F_MODE, F_TBUF, F_GP, F_COUNT
};

static const TaskCtx TASK = {F_EPI_ARG + 1, F_COUNT};
_Static_assert(F_COUNT <= TASK_CTX_MAX_FIELDS, "the task context fits task_ctx_type");

static LLVMValueRef ctx_get(Fn *f, LLVMValueRef ctx, int field) { return task_ctx_get(f, TASK, ctx, field); }
static void ctx_set(Fn *f, LLVMValueRef ctx, int field, LLVMValueRef v) { task_ctx_set(f, TASK, ctx, field, v); }

/* A task context on the stack holding one product's operands, sizes, strides and epilogue. */
static LLVMValueRef new_ctx(Fn *f, LLVMValueRef A, LLVMValueRef B, LLVMValueRef C, LLVMValueRef M, LLVMValueRef N,
                            LLVMValueRef K, LLVMValueRef a_rs, LLVMValueRef a_cs, LLVMValueRef b_rs, LLVMValueRef b_cs,
                            LLVMValueRef epi, LLVMValueRef epi_arg) {
    LLVMValueRef ctx = var(f, task_ctx_type(f->cm, TASK), NULL);
    const int fields[] = {F_A, F_B, F_C, F_M, F_N, F_K, F_ARS, F_ACS, F_BRS, F_BCS, F_EPI, F_EPI_ARG};
    const LLVMValueRef vals[] = {A, B, C, M, N, K, a_rs, a_cs, b_rs, b_cs, epi, epi_arg};
    for (int i = 0; i < 12; i++)
        ctx_set(f, ctx, fields[i], vals[i]);
    return ctx;
}

/* The epilogue's group of panels (epi_panels, at least 1) into the context; returns it. */
static LLVMValueRef set_groups(Fn *f, LLVMValueRef ctx, LLVMValueRef epi_panels) {
    LLVMValueRef gp = LLVMBuildSelect(f->b, cmp(f, LLVMIntSLT, epi_panels, k64(f, 1)), k64(f, 1), epi_panels, "");
    ctx_set(f, ctx, F_GP, gp);
    return gp;
}

/* Task t of an even tm x tn grid over the MR-row and NR-column panels of C:
 * for each block of NCP panels, each KC block, each MR-row panel (packed into
 * a stack buffer): the kernels along the panels of the block. Mode 0: B is
 * packed already (F_B); mode 1: B (F_B, F_BRS, F_BCS) is packed one KC x NCP
 * block at a time into the task's own F_TBUF floats of F_BUF, while the block
 * is about to be used. In the last KC block, the epilogue takes each MR-row
 * strip of the block of panels as soon as its kernels have stored it. */
static LLVMValueRef emit_main_task(CgModule *cm, const Shape *s, LLVMValueRef kernels, LLVMValueRef full_kernel,
                                   LLVMValueRef packers, LLVMValueRef pack_b) {
    LLVMValueRef fn = new_function(cm, "attn_gemm_task", task_type(cm), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef ctx = LLVMGetParam(fn, 0), t = LLVMGetParam(fn, 1);
    LLVMValueRef A = ctx_get(f, ctx, F_A), Bp = ctx_get(f, ctx, F_B), C = ctx_get(f, ctx, F_C);
    LLVMValueRef M = ctx_get(f, ctx, F_M), N = ctx_get(f, ctx, F_N), K = ctx_get(f, ctx, F_K);
    LLVMValueRef a_rs = ctx_get(f, ctx, F_ARS), a_cs = ctx_get(f, ctx, F_ACS), ldc = ctx_get(f, ctx, F_LDC);
    LLVMValueRef tm = ctx_get(f, ctx, F_TM), tn = ctx_get(f, ctx, F_TN);
    LLVMValueRef mp = ctx_get(f, ctx, F_MP), np = ctx_get(f, ctx, F_NP);
    LLVMValueRef b_rs = ctx_get(f, ctx, F_BRS), b_cs = ctx_get(f, ctx, F_BCS);
    LLVMValueRef epi = ctx_get(f, ctx, F_EPI), epi_arg = ctx_get(f, ctx, F_EPI_ARG);
    LLVMValueRef unpacked = cmp(f, LLVMIntNE, ctx_get(f, ctx, F_MODE), k64(f, 0));
    LLVMValueRef tbuf = gepf(f, ctx_get(f, ctx, F_BUF), mul(f, t, ctx_get(f, ctx, F_TBUF)));
    LLVMValueRef MRv = k64(f, s->tile.MR), NRv = k64(f, s->tile.NR);
    LLVMValueRef m0, m1, j0, j1;
    task_rows(f, sdiv(f, t, tn), tm, mp, M, s->tile.MR, &m0, &m1);
    LLVMValueRef gp = ctx_get(f, ctx, F_GP);
    task_panels(f, LLVMBuildSRem(f->b, t, tn, ""), tn, np, gp, &j0, &j1);
    LLVMTypeRef buf_t = LLVMArrayType2(cm->f32, (uint64_t)s->KC * (uint64_t)s->tile.MR);
    LLVMValueRef abuf = var(f, buf_t, NULL);
    LLVMSetAlignment(abuf, 64);
    LLVMTypeRef kt = kernel_type(cm);

    Loop ljc, lpc, lic, ljp;
    LLVMValueRef ncp = block_panels(f, j0, j1, s->NCP, gp);
    LLVMValueRef jc = loop_begin(f, &ljc, j0, j1, ncp);
    LLVMValueRef jce = smin(f, add(f, jc, ncp), j1);
    LLVMValueRef pc = loop_begin(f, &lpc, k64(f, 0), K, k64(f, s->KC));
    LLVMValueRef kc = smin(f, k64(f, s->KC), sub(f, K, pc));
    LLVMValueRef acc = LLVMBuildZExt(f->b, cmp(f, LLVMIntSGT, pc, k64(f, 0)), cm->i64, "");
    LLVMValueRef last = cmp(f, LLVMIntEQ, add(f, pc, kc), K);
    If pack;
    if_begin(f, &pack, unpacked);
    LLVMValueRef pb[] = {Bp, b_rs, b_cs, N, jc, jce, pc, kc, tbuf, k64(f, (int64_t)s->KC * s->tile.NR)};
    call(f, pack_b, pb, 10);
    if_end(f, &pack);
    LLVMValueRef ic = loop_begin(f, &lic, m0, m1, MRv);
    LLVMValueRef mr = smin(f, MRv, sub(f, m1, ic));
    LLVMValueRef asrc = gepf(f, A, add(f, mul(f, ic, a_rs), mul(f, pc, a_cs)));
    LLVMValueRef pa[] = {kc, asrc, a_rs, a_cs, abuf};
    LLVMTypeRef pat = LLVMGlobalGetValueType(LLVMGetNamedFunction(cm->mod, "attn_gemm_pack_a_1"));
    LLVMBuildCall2(f->b, pat, table_get(f, packers, sub(f, mr, k64(f, 1))), pa, 5, "");
    LLVMValueRef crow = gepf(f, C, mul(f, ic, ldc));
    LLVMValueRef jp = loop_begin(f, &ljp, jc, jce, k64(f, 1));
    LLVMValueRef col = mul(f, jp, NRv);
    LLVMValueRef nr = smin(f, NRv, sub(f, N, col));
    LLVMValueRef bsrc =
        LLVMBuildSelect(f->b, unpacked, gepf(f, tbuf, mul(f, sub(f, jp, jc), k64(f, (int64_t)s->KC * s->tile.NR))),
                        gepf(f, Bp, mul(f, add(f, mul(f, jp, K), pc), NRv)), "");
    LLVMValueRef args[] = {kc, abuf, k64(f, 0), k64(f, 0), bsrc, NRv, gepf(f, crow, col), ldc, nr, acc};
    If full;
    if_begin(f, &full, LLVMBuildAnd(f->b, cmp(f, LLVMIntEQ, mr, MRv), cmp(f, LLVMIntEQ, nr, NRv), ""));
    LLVMBuildCall2(f->b, kt, full_kernel, args, 10, "");
    if_else(f, &full);
    LLVMValueRef nv = cdiv(f, nr, k64(f, s->tile.L));
    LLVMValueRef idx = add(f, mul(f, sub(f, mr, k64(f, 1)), k64(f, s->tile.NV)), sub(f, nv, k64(f, 1)));
    LLVMBuildCall2(f->b, kt, table_get(f, kernels, idx), args, 10, "");
    if_end(f, &full);
    loop_end(f, &ljp);
    call_epi(f, last, epi, epi_arg, ic, add(f, ic, mr), mul(f, jc, NRv), smin(f, mul(f, jce, NRv), N));
    loop_end(f, &lic);
    loop_end(f, &lpc);
    loop_end(f, &ljc);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}

/* Task t of tn over column panels for M <= SMALL_M rows, all of K at once.
 * Mode 0: B packed, panels of NR columns; mode 1: B read directly (b_cs == 1),
 * panels of wide_nv(M) vectors (F_MP holds the panel width). The epilogue
 * takes each panel right after its kernel. */
static LLVMValueRef emit_small_task(CgModule *cm, const Shape *s, LLVMValueRef kernels) {
    LLVMValueRef fn = new_function(cm, "attn_gemm_small_task", task_type(cm), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef ctx = LLVMGetParam(fn, 0), t = LLVMGetParam(fn, 1);
    LLVMValueRef A = ctx_get(f, ctx, F_A), B = ctx_get(f, ctx, F_B), C = ctx_get(f, ctx, F_C);
    LLVMValueRef M = ctx_get(f, ctx, F_M), N = ctx_get(f, ctx, F_N), K = ctx_get(f, ctx, F_K);
    LLVMValueRef a_rs = ctx_get(f, ctx, F_ARS), a_cs = ctx_get(f, ctx, F_ACS), b_rs = ctx_get(f, ctx, F_BRS);
    LLVMValueRef ldc = ctx_get(f, ctx, F_LDC), tn = ctx_get(f, ctx, F_TN), np = ctx_get(f, ctx, F_NP);
    LLVMValueRef mode = ctx_get(f, ctx, F_MODE);
    LLVMValueRef epi = ctx_get(f, ctx, F_EPI), epi_arg = ctx_get(f, ctx, F_EPI_ARG);
    LLVMValueRef NRv = k64(f, s->tile.NR), width = ctx_get(f, ctx, F_MP), gp = ctx_get(f, ctx, F_GP);
    LLVMValueRef j0, j1;
    task_panels(f, t, tn, np, gp, &j0, &j1);
    Loop lj;
    LLVMValueRef jp = loop_begin(f, &lj, j0, j1, k64(f, 1));
    LLVMValueRef col = mul(f, jp, width);
    LLVMValueRef nr = smin(f, width, sub(f, N, col));
    LLVMValueRef direct = cmp(f, LLVMIntNE, mode, k64(f, 0));
    LLVMValueRef bsrc = LLVMBuildSelect(f->b, direct, gepf(f, B, col), gepf(f, B, mul(f, jp, mul(f, K, NRv))), "");
    /* kernel index: variant * SMALL_M + (M - 1), variant 0 packed, 1 direct, 2 direct masked */
    LLVMValueRef variant = LLVMBuildSelect(
        f->b, direct, LLVMBuildSelect(f->b, cmp(f, LLVMIntSLT, nr, width), k64(f, 2), k64(f, 1), ""), k64(f, 0), "");
    LLVMValueRef idx = add(f, mul(f, variant, k64(f, SMALL_M)), sub(f, M, k64(f, 1)));
    LLVMValueRef args[] = {K, A, a_rs, a_cs, bsrc, b_rs, gepf(f, C, col), ldc, nr, k64(f, 0)};
    LLVMBuildCall2(f->b, kernel_type(cm), table_get(f, kernels, idx), args, 10, "");
    /* after the last panel of each group */
    LLVMValueRef in_group = LLVMBuildSRem(f->b, sub(f, jp, j0), gp, "");
    LLVMValueRef group_end = LLVMBuildOr(f->b, cmp(f, LLVMIntEQ, in_group, sub(f, gp, k64(f, 1))),
                                         cmp(f, LLVMIntEQ, add(f, jp, k64(f, 1)), j1), "");
    call_epi(f, group_end, epi, epi_arg, k64(f, 0), M, mul(f, sub(f, jp, in_group), width), add(f, col, nr));
    loop_end(f, &lj);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}

/* void pack_b_block(ptr B, i64 b_rs, i64 b_cs, i64 N, i64 jp0, i64 jp1, i64 p0, i64 kc, ptr out, i64 pstride):
 * rows [p0, p0+kc) of the NR-column panels [jp0, jp1) of B into out, panel jp at
 * out + (jp-jp0)*pstride, row p at + (p-p0)*NR; columns past N are zero. */
static LLVMValueRef emit_pack_b_block(CgModule *cm, const Shape *s) {
    LLVMTypeRef pt[] = {cm->ptr, cm->i64, cm->i64, cm->i64, cm->i64, cm->i64, cm->i64, cm->i64, cm->ptr, cm->i64};
    LLVMValueRef fn = new_function(cm, "attn_gemm_pack_b_block", LLVMFunctionType(cm->void_t, pt, 10, 0), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef B = LLVMGetParam(fn, 0), b_rs = LLVMGetParam(fn, 1), b_cs = LLVMGetParam(fn, 2),
                 N = LLVMGetParam(fn, 3), jp0 = LLVMGetParam(fn, 4), jp1 = LLVMGetParam(fn, 5),
                 p0 = LLVMGetParam(fn, 6), kc = LLVMGetParam(fn, 7), out = LLVMGetParam(fn, 8),
                 pstride = LLVMGetParam(fn, 9);
    LLVMValueRef NRv = k64(f, s->tile.NR);
    const int L = s->tile.L;
    LLVMTypeRef vt = LLVMVectorType(cm->f32, (unsigned)L);
    Loop lj, lp;
    If contiguous, full;
    if_begin(f, &contiguous, cmp(f, LLVMIntEQ, b_cs, k64(f, 1)));
    {
        /* row by row: contiguous reads along the block's columns */
        LLVMValueRef p = loop_begin(f, &lp, k64(f, 0), kc, k64(f, 1));
        LLVMValueRef srow = gepf(f, B, mul(f, add(f, p0, p), b_rs));
        LLVMValueRef jp = loop_begin(f, &lj, jp0, jp1, k64(f, 1));
        LLVMValueRef col = mul(f, jp, NRv);
        LLVMValueRef nr = smin(f, NRv, sub(f, N, col));
        LLVMValueRef src = gepf(f, srow, col);
        LLVMValueRef dst = gepf(f, out, add(f, mul(f, sub(f, jp, jp0), pstride), mul(f, p, NRv)));
        if_begin(f, &full, cmp(f, LLVMIntEQ, nr, NRv));
        for (int masked = 0; masked < 2; masked++) {
            if (masked)
                if_else(f, &full);
            for (int v = 0; v < s->tile.NV; v++) {
                LLVMValueRef sp = gepf(f, src, k64(f, (int64_t)v * L));
                LLVMValueRef x = masked ? masked_load(f, vt, sp, lane_mask(f, sub(f, nr, k64(f, (int64_t)v * L)), L),
                                                      LLVMConstNull(vt))
                                        : load4(f, vt, sp);
                store4(f, x, gepf(f, dst, k64(f, (int64_t)v * L)));
            }
        }
        if_end(f, &full);
        loop_end(f, &lj);
        loop_end(f, &lp);
    }
    if_else(f, &contiguous);
    {
        /* any strides: panel by panel, columns j < nr gathered, the rest zero */
        LLVMValueRef jp = loop_begin(f, &lj, jp0, jp1, k64(f, 1));
        LLVMValueRef col = mul(f, jp, NRv);
        LLVMValueRef nr = smin(f, NRv, sub(f, N, col));
        LLVMValueRef src = gepf(f, B, add(f, mul(f, col, b_cs), mul(f, p0, b_rs)));
        LLVMValueRef dst = gepf(f, out, mul(f, sub(f, jp, jp0), pstride));
        LLVMValueRef p = loop_begin(f, &lp, k64(f, 0), kc, k64(f, 1));
        LLVMValueRef srow = gepf(f, src, mul(f, p, b_rs)), drow = gepf(f, dst, mul(f, p, NRv));
        Loop lc, lz;
        LLVMValueRef j = loop_begin(f, &lc, k64(f, 0), nr, k64(f, 1));
        store4(f, load4(f, cm->f32, gepf(f, srow, mul(f, j, b_cs))), gepf(f, drow, j));
        loop_end(f, &lc);
        j = loop_begin(f, &lz, nr, NRv, k64(f, 1));
        store4(f, cg_f32(cm, 0.0, 1), gepf(f, drow, j));
        loop_end(f, &lz);
        loop_end(f, &lp);
        loop_end(f, &lj);
    }
    if_end(f, &contiguous);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}

static LLVMTypeRef gemm_packed_type(CgModule *cm) {
    LLVMTypeRef p[] = {cm->i64, cm->i64, cm->i64, cm->ptr, cm->i64, cm->i64, cm->ptr,
                       cm->ptr, cm->i64, cm->ptr, cm->ptr, cm->ptr, cm->i64};
    return LLVMFunctionType(cm->void_t, p, 13, 0);
}

static LLVMTypeRef gemm_type(CgModule *cm) {
    LLVMTypeRef p[] = {cm->i64, cm->i64, cm->i64, cm->ptr, cm->i64, cm->i64, cm->ptr, cm->i64,
                       cm->i64, cm->ptr, cm->i64, cm->ptr, cm->ptr, cm->ptr, cm->i64};
    return LLVMFunctionType(cm->void_t, p, 15, 0);
}

static bool defined(LLVMValueRef fn) { return fn && LLVMCountBasicBlocks(fn) > 0; }

/* Accumulator sets for a small-M kernel: enough independent FMA chains (>= 8). */
static int small_u(const Shape *s, int mr) {
    int chains = mr * s->tile.NV, u = (8 + chains - 1) / chains;
    return u < 1 ? 1 : u > MAX_U ? MAX_U : u;
}

/* Vectors per row of the small-M kernels that read B directly: the
 * accumulators take most of the registers (24 of 32, 12 of 16), so one pass
 * streams long contiguous pieces of each row of B. */
static int regs_for_acc(const Shape *s) { return s->tile.L >= 16 ? 24 : 12; }
static int wide_nv(const Shape *s, int mr) { return regs_for_acc(s) / mr; }

/* The internal functions both drivers use, emitted once per module. */
typedef struct Parts {
    LLVMValueRef main_task, small_task;
} Parts;

static Parts parts(CgModule *cm, const Shape *s) {
    Parts P;
    P.main_task = LLVMGetNamedFunction(cm->mod, "attn_gemm_task");
    if (P.main_task) {
        P.small_task = LLVMGetNamedFunction(cm->mod, "attn_gemm_small_task");
        return P;
    }
    char name[64];
    LLVMValueRef kernels[MAX_MR * MAX_NV], packers[MAX_MR], full = NULL;
    for (int m = 1; m <= s->tile.MR; m++) {
        snprintf(name, sizeof name, "attn_gemm_pack_a_%d", m);
        packers[m - 1] = emit_pack_a(cm, s, name, m);
        for (int v = 1; v <= s->tile.NV; v++) {
            snprintf(name, sizeof name, "attn_gemm_kernel_%d_%d", m, v);
            kernels[(m - 1) * s->tile.NV + v - 1] = emit_kernel(cm, s, name, m, v, true, B_PACKED, 1);
        }
    }
    full = kernels[s->tile.MR * s->tile.NV - 1];
    LLVMValueRef ktab = fn_table(cm, "attn_gemm_kernels", kernels, s->tile.MR * s->tile.NV);
    LLVMValueRef ptab = fn_table(cm, "attn_gemm_packers", packers, s->tile.MR);
    LLVMValueRef small[3 * SMALL_M];
    for (int variant = 0; variant < 3; variant++)
        for (int m = 1; m <= SMALL_M; m++) {
            snprintf(name, sizeof name, "attn_gemm_small_%d_%d", variant, m);
            small[variant * SMALL_M + m - 1] =
                variant == B_PACKED ? emit_kernel(cm, s, name, m, s->tile.NV, false, B_PACKED, small_u(s, m))
                                    : emit_kernel(cm, s, name, m, wide_nv(s, m), false, variant, 1);
        }
    LLVMValueRef stab = fn_table(cm, "attn_gemm_small_kernels", small, 3 * SMALL_M);
    P.main_task = emit_main_task(cm, s, ktab, full, ptab, emit_pack_b_block(cm, s));
    P.small_task = emit_small_task(cm, s, stab);
    return P;
}

/* Even split of n units over T threads: min(n, 4T) tasks when the work is
 * worth it (at least `min_per_thread` per thread), else 1. */
static LLVMValueRef task_count(Fn *f, LLVMValueRef T, LLVMValueRef n, LLVMValueRef work, int64_t min_per_thread) {
    LLVMValueRef par = LLVMBuildAnd(f->b, cmp(f, LLVMIntSGT, T, k64(f, 1)),
                                    cmp(f, LLVMIntSGE, work, mul(f, T, k64(f, min_per_thread))), "");
    return LLVMBuildSelect(f->b, par, smin(f, n, mul(f, T, k64(f, 4))), k64(f, 1), "");
}

/* M <= SMALL_M: tasks over the column panels (ctx already holds A, B, C, sizes, strides, mode). */
static void small_path(Fn *f, const Shape *s, const Parts *P, LLVMValueRef ctx, LLVMValueRef pool, LLVMValueRef M,
                       LLVMValueRef N, LLVMValueRef K) {
    LLVMValueRef T = pool_threads(f, pool);
    LLVMValueRef direct = cmp(f, LLVMIntNE, ctx_get(f, ctx, F_MODE), k64(f, 0));
    LLVMValueRef wide = mul(f, sdiv(f, k64(f, regs_for_acc(s)), M), k64(f, s->tile.L));
    LLVMValueRef width = LLVMBuildSelect(f->b, direct, wide, k64(f, s->tile.NR), "");
    LLVMValueRef np = cdiv(f, N, width);
    LLVMValueRef groups = cdiv(f, np, ctx_get(f, ctx, F_GP));
    LLVMValueRef nt = task_count(f, T, groups, mul(f, mul(f, M, N), K), 1 << 16);
    ctx_set(f, ctx, F_TN, nt);
    ctx_set(f, ctx, F_NP, np);
    ctx_set(f, ctx, F_MP, width);
    run_tasks(f, pool, nt, P->small_task, ctx);
}

/* The task grid of the main path (fields TM, TN, MP, NP of ctx); returns the
 * number of tasks: an even grid of up to 4T tasks when each thread gets enough work.
 * `b_packed`: B comes packed (row groups only read it again, from cache). */
static LLVMValueRef main_grid(Fn *f, const Shape *s, LLVMValueRef ctx, LLVMValueRef T, LLVMValueRef M, LLVMValueRef N,
                              LLVMValueRef K, bool b_packed) {
    LLVMValueRef np = cdiv(f, N, k64(f, s->tile.NR)), mp = cdiv(f, M, k64(f, s->tile.MR));
    LLVMValueRef groups = cdiv(f, np, ctx_get(f, ctx, F_GP));
    LLVMValueRef work = mul(f, mul(f, M, N), K);
    LLVMValueRef par = LLVMBuildAnd(f->b, cmp(f, LLVMIntSGT, T, k64(f, 1)),
                                    cmp(f, LLVMIntSGE, work, mul(f, T, k64(f, 1 << 18))), "");
    /* two candidates: column groups up to one per thread, or up to 4T; then
     * row groups up to 4T tasks in all. Every row group packs (or reads) all
     * of its B columns and every column group packs all of its A rows: take
     * the grid that repeats less, tm*N + tn*M. Reading packed B again from
     * cache costs about a quarter of packing A again (measured at M = 128 on
     * the transformer shapes: 5-10% faster at 2 threads than equal weights,
     * which packed all of A in each of 8 column tasks). */
    LLVMValueRef T4 = mul(f, T, k64(f, 4));
    LLVMValueRef tn1 = smin(f, groups, T), tn2 = smin(f, groups, T4);
    LLVMValueRef tm1 = smin(f, mp, cdiv(f, T4, tn1)), tm2 = smin(f, mp, cdiv(f, T4, tn2));
    LLVMValueRef ma = b_packed ? mul(f, M, k64(f, 4)) : M;
    LLVMValueRef cost1 = add(f, mul(f, tm1, N), mul(f, tn1, ma)), cost2 = add(f, mul(f, tm2, N), mul(f, tn2, ma));
    LLVMValueRef second = cmp(f, LLVMIntSLT, cost2, cost1);
    LLVMValueRef tn = LLVMBuildSelect(f->b, par, LLVMBuildSelect(f->b, second, tn2, tn1, ""), k64(f, 1), "");
    LLVMValueRef tm = LLVMBuildSelect(f->b, par, LLVMBuildSelect(f->b, second, tm2, tm1, ""), k64(f, 1), "");
    if (b_packed) {
        /* a few row panels (a recurrent step at batch 32: 4) that split evenly:
         * one task of rows per thread, each over all columns. Measured on the
         * 32 x 512 x 1536 / 2048 products at 2 threads: 2-5% faster than 8
         * column tasks that each pack all of A, and it keeps whole groups of
         * gate columns (epi_panels) from splitting unevenly over the threads. */
        LLVMValueRef rows = LLVMBuildAnd(f->b, par, cmp(f, LLVMIntSLE, mp, k64(f, 8)), "");
        rows = LLVMBuildAnd(f->b, rows, cmp(f, LLVMIntEQ, LLVMBuildSRem(f->b, mp, T, ""), k64(f, 0)), "");
        tn = LLVMBuildSelect(f->b, rows, k64(f, 1), tn, "");
        tm = LLVMBuildSelect(f->b, rows, T, tm, "");
    }
    ctx_set(f, ctx, F_TM, tm);
    ctx_set(f, ctx, F_TN, tn);
    ctx_set(f, ctx, F_MP, mp);
    ctx_set(f, ctx, F_NP, np);
    return mul(f, tm, tn);
}

LLVMValueRef cg_gemm_packed(CgModule *cm) {
    LLVMValueRef fn = LLVMGetNamedFunction(cm->mod, "attn_gemm_packed");
    if (defined(fn))
        return fn;
    Shape s = shape_for(cm->target);
    Parts P = parts(cm, &s);
    if (!fn)
        fn = new_function(cm, "attn_gemm_packed", gemm_packed_type(cm), false);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef M = LLVMGetParam(fn, 0), N = LLVMGetParam(fn, 1), K = LLVMGetParam(fn, 2), A = LLVMGetParam(fn, 3),
                 a_rs = LLVMGetParam(fn, 4), a_cs = LLVMGetParam(fn, 5), Bp = LLVMGetParam(fn, 6),
                 C = LLVMGetParam(fn, 7), ldc = LLVMGetParam(fn, 8), pool = LLVMGetParam(fn, 9),
                 epi = LLVMGetParam(fn, 10), epi_arg = LLVMGetParam(fn, 11), epi_panels = LLVMGetParam(fn, 12);
    gemm_trivial_cases(f, M, N, K, C, ldc, epi, epi_arg);
    LLVMValueRef ctx = new_ctx(f, A, Bp, C, M, N, K, a_rs, a_cs, k64(f, s.tile.NR), k64(f, 1), epi, epi_arg);
    set_groups(f, ctx, epi_panels);
    ctx_set(f, ctx, F_BUF, LLVMConstNull(cm->ptr));
    ctx_set(f, ctx, F_TBUF, k64(f, 0));
    ctx_set(f, ctx, F_LDC, ldc);
    ctx_set(f, ctx, F_MODE, k64(f, 0));
    If small;
    if_begin(f, &small, cmp(f, LLVMIntSLE, M, k64(f, SMALL_M)));
    small_path(f, &s, &P, ctx, pool, M, N, K);
    if_else(f, &small);
    {
        LLVMValueRef nt = main_grid(f, &s, ctx, pool_threads(f, pool), M, N, K, true);
        run_tasks(f, pool, nt, P.main_task, ctx);
    }
    if_end(f, &small);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}

/* C = A * B with one fused multiply-add chain per element: the path when
 * scratch memory for packing cannot be had. */
static void naive_gemm(Fn *f, LLVMValueRef M, LLVMValueRef N, LLVMValueRef K, LLVMValueRef A, LLVMValueRef a_rs,
                       LLVMValueRef a_cs, LLVMValueRef B, LLVMValueRef b_rs, LLVMValueRef b_cs, LLVMValueRef C,
                       LLVMValueRef ldc) {
    CgModule *cm = f->cm;
    Loop li, lj, lp;
    LLVMValueRef i = loop_begin(f, &li, k64(f, 0), M, k64(f, 1));
    LLVMValueRef j = loop_begin(f, &lj, k64(f, 0), N, k64(f, 1));
    LLVMValueRef sum = var(f, cm->f32, NULL);
    store4(f, cg_f32(cm, 0.0, 1), sum);
    LLVMValueRef p = loop_begin(f, &lp, k64(f, 0), K, k64(f, 1));
    LLVMValueRef a = load4(f, cm->f32, gepf(f, A, add(f, mul(f, i, a_rs), mul(f, p, a_cs))));
    LLVMValueRef b = load4(f, cm->f32, gepf(f, B, add(f, mul(f, p, b_rs), mul(f, j, b_cs))));
    store4(f, fma_v(f, a, b, load4(f, cm->f32, sum)), sum);
    loop_end(f, &lp);
    store4(f, load4(f, cm->f32, sum), gepf(f, C, add(f, mul(f, i, ldc), j)));
    loop_end(f, &lj);
    loop_end(f, &li);
}

LLVMValueRef cg_gemm(CgModule *cm) {
    LLVMValueRef fn = LLVMGetNamedFunction(cm->mod, "attn_gemm");
    if (defined(fn))
        return fn;
    Shape s = shape_for(cm->target);
    cg_gemm_packed(cm);
    Parts P = parts(cm, &s);
    if (!fn)
        fn = new_function(cm, "attn_gemm", gemm_type(cm), false);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef M = LLVMGetParam(fn, 0), N = LLVMGetParam(fn, 1), K = LLVMGetParam(fn, 2), A = LLVMGetParam(fn, 3),
                 a_rs = LLVMGetParam(fn, 4), a_cs = LLVMGetParam(fn, 5), B = LLVMGetParam(fn, 6),
                 b_rs = LLVMGetParam(fn, 7), b_cs = LLVMGetParam(fn, 8), C = LLVMGetParam(fn, 9),
                 ldc = LLVMGetParam(fn, 10), pool = LLVMGetParam(fn, 11), epi = LLVMGetParam(fn, 12),
                 epi_arg = LLVMGetParam(fn, 13), epi_panels = LLVMGetParam(fn, 14);
    gemm_trivial_cases(f, M, N, K, C, ldc, epi, epi_arg);
    LLVMValueRef ctx = new_ctx(f, A, B, C, M, N, K, a_rs, a_cs, b_rs, b_cs, epi, epi_arg);
    ctx_set(f, ctx, F_LDC, ldc);
    ctx_set(f, ctx, F_MODE, k64(f, 1));
    LLVMValueRef gp = set_groups(f, ctx, epi_panels);
    If small;
    /* few rows and contiguous rows of B: stream B as it is, no packing */
    if_begin(f, &small,
             LLVMBuildAnd(f->b, cmp(f, LLVMIntSLE, M, k64(f, SMALL_M)), cmp(f, LLVMIntEQ, b_cs, k64(f, 1)), ""));
    small_path(f, &s, &P, ctx, pool, M, N, K);
    if_else(f, &small);
    {
        /* each task packs the KC x NCP blocks of B it uses into its own buffer */
        LLVMValueRef nt = main_grid(f, &s, ctx, pool_threads(f, pool), M, N, K, false);
        LLVMValueRef np = cdiv(f, N, k64(f, s.tile.NR)), tn = ctx_get(f, ctx, F_TN);
        /* blocks of NCP panels, or of whole groups of gp panels (main_task) */
        LLVMValueRef panels = smin(f, cdiv(f, np, tn), k64(f, s.NCP));
        panels = LLVMBuildSelect(f->b, cmp(f, LLVMIntSGT, gp, k64(f, 1)),
                                 smin(f, np, mul(f, cdiv(f, cdiv(f, np, tn), gp), gp)), panels, "");
        LLVMValueRef tfloats = mul(f, panels, k64(f, (int64_t)s.KC * s.tile.NR));
        LLVMValueRef bytes = mul(f, mul(f, nt, tfloats), k64(f, 4));
        LLVMValueRef buf = call(f, runtime_fn(cm, "attn_rt_aligned_alloc"), &bytes, 1);
        If nomem;
        if_begin(f, &nomem, LLVMBuildIsNull(f->b, buf, ""));
        naive_gemm(f, M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc);
        call_epi(f, NULL, epi, epi_arg, k64(f, 0), M, k64(f, 0), N);
        if_else(f, &nomem);
        ctx_set(f, ctx, F_BUF, buf);
        ctx_set(f, ctx, F_TBUF, tfloats);
        run_tasks(f, pool, nt, P.main_task, ctx);
        call(f, runtime_fn(cm, "attn_rt_aligned_free"), &buf, 1);
        if_end(f, &nomem);
    }
    if_end(f, &small);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}
