/*
 * cg_matmul_bf16.c — the matmul core for weights stored as bf16 panels
 * (attn_gemm_packed_bf16, see cg_matmul.h; layout in runtime/rt/pack.h,
 * design in docs/PRECISION.md).
 *
 * Same blocking as the f32 core's main path (cg_matmul.c): B in panels of NR
 * columns, each task over a block of panels, a KC block of K at a time, A
 * in MR-row strips. What differs:
 *
 *  - A is packed once per product, before the tasks, into a buffer they all
 *    read (the strips shared out over the threads), not per task and block
 *    of columns into a stack buffer (still the path of one-strip products
 *    and of a failed allocation);
 *  - A is rounded to bf16 (nearest-even) while it is packed, two rows of K
 *    per 32-bit word: word (q, i) = (A[i][2q], A[i][2q+1]), the lower half
 *    first, as vdpbf16ps pairs its operands;
 *  - one step of the micro-kernel is two rows of K: NV loads of L words of a
 *    panel (L columns x 2 rows each), MR broadcasts of a word of A, and per
 *    accumulator one vdpbf16ps (products of bf16 pairs added into f32);
 *  - on a target without AVX512_BF16 the same words are widened in registers
 *    (a bf16 is the upper half of an f32: shift left 16, or mask the upper
 *    half) and accumulated with two FMAs: the same layout and results up to
 *    the order of additions; correct, not fast.
 *
 * Small M has no path of its own: with M <= MR there is one strip, so every
 * word of B is read once, which is what bounds a recurrent step anyway.
 * Accumulation and epilogues are f32, with the contract of cg_matmul.h.
 */
#include "cg_core_util.h"
#include "cg_matmul.h"
#include "pack.h"

#include <stdio.h>

enum { BF_MAX_MR = 8, BF_MAX_NV = 4 };

typedef struct BfShape {
    CoreTile tile; /* L: 32-bit words (f32 lanes, bf16 pairs) per vector */
    int KC;        /* rows of K per block (even) */
    int NCP;       /* panels per block of columns (about 480 KB of bf16 B) */
    bool dp;       /* vdpbf16ps: AVX512_BF16 with 16 lanes */
} BfShape;

static BfShape bf_shape(const CgTarget *t) {
    BfShape s;
    s.tile = core_tile(t);
    s.KC = 512;
    s.NCP = (int)((480 * 1024 / 2 / s.KC) / s.tile.NR);
    if (s.NCP < 1)
        s.NCP = 1;
    s.dp = s.tile.L == 16 && cg_target_has(t, "avx512bf16");
    return s;
}

/* acc + a[0]*b[0] + a[1]*b[1] per lane, a and b vectors of L words of bf16 pairs. */
static LLVMValueRef dot_pairs(Fn *f, LLVMValueRef acc, LLVMValueRef a, LLVMValueRef b) {
    const char *name = "llvm.x86.avx512bf16.dpbf16ps.512";
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef ft = LLVMIntrinsicGetType(f->cm->ctx, id, NULL, 0);
    LLVMTypeRef pt[3];
    LLVMGetParamTypes(ft, pt);
    LLVMValueRef args[] = {acc, LLVMBuildBitCast(f->b, a, pt[1], ""), LLVMBuildBitCast(f->b, b, pt[2], "")};
    return LLVMBuildCall2(f->b, ft, LLVMGetIntrinsicDeclaration(f->cm->mod, id, NULL, 0), args, 3, "");
}

/* The f32 values of the lower (row 2q) and upper (row 2q+1) halves of words w. */
static void widen(Fn *f, LLVMValueRef w, int lanes, LLVMValueRef *lo, LLVMValueRef *hi) {
    CgModule *cm = f->cm;
    LLVMTypeRef ft = lanes > 1 ? LLVMVectorType(cm->f32, (unsigned)lanes) : cm->f32;
    LLVMValueRef sh = LLVMConstInt(cm->i32, 16, 0), mk = LLVMConstInt(cm->i32, 0xffff0000u, 0);
    if (lanes > 1) {
        sh = splat(f, sh, lanes);
        mk = splat(f, mk, lanes);
    }
    *lo = LLVMBuildBitCast(f->b, LLVMBuildShl(f->b, w, sh, ""), ft, "");
    *hi = LLVMBuildBitCast(f->b, LLVMBuildAnd(f->b, w, mk, ""), ft, "");
}

/* ---- micro-kernel ----------------------------------------------------- */

/* void kernel(i64 kq, ptr Aw, ptr Bw, ptr C, i64 ldc, i64 nr, i64 accumulate):
 * C[0..mr, 0..min(nr, nv*L)) (+)= the products over kq pairs of rows of K,
 * A word (q, i) at Aw[q*MR + i], B's pair row q at Bw + q*NR words. */
static LLVMTypeRef kernel_type(CgModule *cm) {
    LLVMTypeRef p[] = {cm->i64, cm->ptr, cm->ptr, cm->ptr, cm->i64, cm->i64, cm->i64};
    return LLVMFunctionType(cm->void_t, p, 7, 0);
}

static void store_tile(Fn *f, const BfShape *s, int mr, int nv, LLVMValueRef val[BF_MAX_MR][BF_MAX_NV], LLVMValueRef C,
                       LLVMValueRef ldc, LLVMValueRef nr, LLVMValueRef accumulate) {
    CgModule *cm = f->cm;
    LLVMTypeRef vt = LLVMVectorType(cm->f32, (unsigned)s->tile.L);
    If full, acc_if;
    if_begin(f, &full, cmp(f, LLVMIntSGE, nr, k64(f, (int64_t)nv * s->tile.L)));
    for (int masked = 0; masked < 2; masked++) {
        if (masked)
            if_else(f, &full);
        LLVMValueRef mask[BF_MAX_NV] = {0};
        for (int v = 0; masked && v < nv; v++)
            mask[v] = lane_mask(f, sub(f, nr, k64(f, (int64_t)v * s->tile.L)), s->tile.L);
        if_begin(f, &acc_if, cmp(f, LLVMIntNE, accumulate, k64(f, 0)));
        for (int add_c = 1; add_c >= 0; add_c--) {
            if (!add_c)
                if_else(f, &acc_if);
            for (int i = 0; i < mr; i++)
                for (int v = 0; v < nv; v++) {
                    LLVMValueRef p = gep(f, cm->f32, C, add(f, mul(f, k64(f, i), ldc), k64(f, (int64_t)v * s->tile.L)));
                    LLVMValueRef x = val[i][v];
                    if (masked) {
                        LLVMTypeRef ty[] = {vt, cm->ptr};
                        if (add_c) {
                            LLVMValueRef la[] = {p, LLVMConstInt(cm->i32, 4, 0), mask[v], LLVMConstNull(vt)};
                            x = cg_fast(LLVMBuildFAdd(f->b, x, intrinsic(f, "llvm.masked.load", ty, 2, la, 4), ""));
                        }
                        LLVMValueRef sa[] = {x, p, LLVMConstInt(cm->i32, 4, 0), mask[v]};
                        intrinsic(f, "llvm.masked.store", ty, 2, sa, 4);
                    } else {
                        if (add_c)
                            x = cg_fast(LLVMBuildFAdd(f->b, x, load4(f, vt, p), ""));
                        store4(f, x, p);
                    }
                }
        }
        if_end(f, &acc_if);
    }
    if_end(f, &full);
}

static LLVMValueRef emit_kernel(CgModule *cm, const BfShape *s, const char *name, int mr, int nv) {
    LLVMValueRef fn = new_function(cm, name, kernel_type(cm), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef kq = LLVMGetParam(fn, 0), Aw = LLVMGetParam(fn, 1), Bw = LLVMGetParam(fn, 2), C = LLVMGetParam(fn, 3),
                 ldc = LLVMGetParam(fn, 4), nr = LLVMGetParam(fn, 5), accumulate = LLVMGetParam(fn, 6);
    const int L = s->tile.L;
    LLVMTypeRef vt = LLVMVectorType(cm->f32, (unsigned)L), wt = LLVMVectorType(cm->i32, (unsigned)L);
    LLVMValueRef acc[BF_MAX_MR][BF_MAX_NV];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nv; v++)
            acc[i][v] = var(f, vt, LLVMConstNull(vt));
    Loop lq;
    LLVMValueRef q = loop_begin(f, &lq, k64(f, 0), kq, k64(f, 1));
    LLVMValueRef brow = gep(f, cm->i32, Bw, mul(f, q, k64(f, s->tile.NR)));
    LLVMValueRef bw[BF_MAX_NV], blo[BF_MAX_NV], bhi[BF_MAX_NV];
    for (int v = 0; v < nv; v++) {
        bw[v] = load4(f, wt, gep(f, cm->i32, brow, k64(f, (int64_t)v * L)));
        if (!s->dp)
            widen(f, bw[v], L, &blo[v], &bhi[v]);
    }
    for (int i = 0; i < mr; i++) {
        LLVMValueRef aw = load4(f, cm->i32, gep(f, cm->i32, Aw, add(f, mul(f, q, k64(f, s->tile.MR)), k64(f, i))));
        LLVMValueRef a = NULL, alo = NULL, ahi = NULL;
        if (s->dp) {
            a = splat(f, aw, L);
        } else {
            widen(f, aw, 1, &alo, &ahi);
            alo = splat(f, alo, L);
            ahi = splat(f, ahi, L);
        }
        for (int v = 0; v < nv; v++) {
            LLVMValueRef c = LLVMBuildLoad2(f->b, vt, acc[i][v], "");
            c = s->dp ? dot_pairs(f, c, a, bw[v]) : fma_v(f, ahi, bhi[v], fma_v(f, alo, blo[v], c));
            LLVMBuildStore(f->b, c, acc[i][v]);
        }
    }
    loop_end(f, &lq);
    LLVMValueRef val[BF_MAX_MR][BF_MAX_NV];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nv; v++)
            val[i][v] = LLVMBuildLoad2(f->b, vt, acc[i][v], "");
    store_tile(f, s, mr, nv, val, C, ldc, nr, accumulate);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}

/* ---- packing A -------------------------------------------------------- */

/* An i32 constant, or a vector of `lanes` copies of it when lanes > 1. */
static LLVMValueRef ki32(Fn *f, uint32_t v, int lanes) {
    LLVMValueRef c = LLVMConstInt(f->cm->i32, v, 0);
    return lanes > 1 ? splat(f, c, lanes) : c;
}

/* The bf16 bits (in the low halves of i32s) of the f32 vector x of `lanes`
 * lanes, rounded to nearest-even as attn_bf16_round does; NaN stays NaN. */
static LLVMValueRef round_bf16(Fn *f, LLVMValueRef x, int lanes) {
    LLVMValueRef u = LLVMBuildBitCast(f->b, x, LLVMVectorType(f->cm->i32, (unsigned)lanes), "");
    LLVMValueRef high = LLVMBuildLShr(f->b, u, ki32(f, 16, lanes), "");
    LLVMValueRef odd = LLVMBuildAnd(f->b, high, ki32(f, 1, lanes), "");
    LLVMValueRef r = LLVMBuildAdd(f->b, u, LLVMBuildAdd(f->b, odd, ki32(f, 0x7fff, lanes), ""), "");
    r = LLVMBuildLShr(f->b, r, ki32(f, 16, lanes), "");
    LLVMValueRef mag = LLVMBuildAnd(f->b, u, ki32(f, 0x7fffffffu, lanes), "");
    LLVMValueRef nan = LLVMBuildICmp(f->b, LLVMIntUGT, mag, ki32(f, 0x7f800000u, lanes), "");
    return LLVMBuildSelect(f->b, nan, LLVMBuildOr(f->b, high, ki32(f, 0x40, lanes), ""), r, "");
}

/* Column p of the strip's rows as a vector of MR floats (rows mr..MR zero). */
static LLVMValueRef strip_column(Fn *f, const BfShape *s, LLVMValueRef *row, int mr, LLVMValueRef p,
                                 LLVMValueRef a_cs) {
    LLVMValueRef v = LLVMConstNull(LLVMVectorType(f->cm->f32, (unsigned)s->tile.MR));
    for (int i = 0; i < mr; i++)
        v = LLVMBuildInsertElement(f->b, v, load4(f, f->cm->f32, gep(f, f->cm->f32, row[i], mul(f, p, a_cs))),
                                   LLVMConstInt(f->cm->i32, (unsigned long long)i, 0), "");
    return v;
}

/* void pack_a(i64 kc, ptr A, i64 a_rs, i64 a_cs, ptr out) for a strip of mr
 * rows: word (q, i) of out (out[q*MR + i]) = (A[i][2q], A[i][2q+1]) in bf16,
 * for q < ceil(kc/2), i < MR; rows past mr and a missing row 2q+1 (kc odd)
 * are zero. The rounding works on all MR rows of a column at once. */
static LLVMValueRef emit_pack_a(CgModule *cm, const BfShape *s, int mr) {
    char name[64];
    snprintf(name, sizeof name, "attn_gemm_bf16_pack_a_%d", mr);
    LLVMTypeRef pt[] = {cm->i64, cm->ptr, cm->i64, cm->i64, cm->ptr};
    LLVMValueRef fn = new_function(cm, name, LLVMFunctionType(cm->void_t, pt, 5, 0), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef kc = LLVMGetParam(fn, 0), A = LLVMGetParam(fn, 1), a_rs = LLVMGetParam(fn, 2),
                 a_cs = LLVMGetParam(fn, 3), out = LLVMGetParam(fn, 4);
    LLVMValueRef row[BF_MAX_MR];
    for (int i = 0; i < mr; i++)
        row[i] = gep(f, cm->f32, A, mul(f, k64(f, i), a_rs));
    LLVMValueRef whole = sdiv(f, kc, k64(f, 2));
    Loop lq;
    LLVMValueRef q = loop_begin(f, &lq, k64(f, 0), whole, k64(f, 1));
    LLVMValueRef p = mul(f, q, k64(f, 2));
    LLVMValueRef lo = round_bf16(f, strip_column(f, s, row, mr, p, a_cs), s->tile.MR);
    LLVMValueRef hi = round_bf16(f, strip_column(f, s, row, mr, add(f, p, k64(f, 1)), a_cs), s->tile.MR);
    LLVMValueRef w = LLVMBuildOr(f->b, lo, LLVMBuildShl(f->b, hi, ki32(f, 16, s->tile.MR), ""), "");
    store4(f, w, gep(f, cm->i32, out, mul(f, q, k64(f, s->tile.MR)))); /* (a <6 x i32> is 32 bytes apart in memory) */
    loop_end(f, &lq);
    If odd;
    if_begin(f, &odd, cmp(f, LLVMIntNE, LLVMBuildSRem(f->b, kc, k64(f, 2), ""), k64(f, 0)));
    store4(f, round_bf16(f, strip_column(f, s, row, mr, sub(f, kc, k64(f, 1)), a_cs), s->tile.MR),
           gep(f, cm->i32, out, mul(f, whole, k64(f, s->tile.MR))));
    if_end(f, &odd);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}

/* ---- tasks and the driver --------------------------------------------- */

enum {
    X_A, X_B, X_C, X_AP, X_EPI, X_EPI_ARG, X_M, X_N, X_K, X_ARS, X_ACS, X_LDC, X_TM, X_TN, X_MP, X_NP, X_GP, X_NQ,
    X_COUNT
};

static const TaskCtx TASK = {X_EPI_ARG + 1, X_COUNT};
_Static_assert(X_COUNT <= TASK_CTX_MAX_FIELDS, "the task context fits task_ctx_type");

static LLVMValueRef ctx_get(Fn *f, LLVMValueRef ctx, int field) { return task_ctx_get(f, TASK, ctx, field); }
static void ctx_set(Fn *f, LLVMValueRef ctx, int field, LLVMValueRef v) { task_ctx_set(f, TASK, ctx, field, v); }

/* Task t of nq packing tasks: strips [t*mp/nq, (t+1)*mp/nq) of A as bf16
 * words over the whole of K into the shared buffer AP, strip by strip
 * (strip i's words from AP + i*ceil(K/2)*MR): the words the compute tasks
 * would pack per KC block, packed once for every task and column block. */
static LLVMValueRef emit_pack_task(CgModule *cm, const BfShape *s, LLVMValueRef ptable, LLVMTypeRef packer_t) {
    LLVMValueRef fn = new_function(cm, "attn_gemm_bf16_pack_task", task_type(cm), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef ctx = LLVMGetParam(fn, 0), t = LLVMGetParam(fn, 1);
    LLVMValueRef A = ctx_get(f, ctx, X_A), AP = ctx_get(f, ctx, X_AP), M = ctx_get(f, ctx, X_M),
                 K = ctx_get(f, ctx, X_K), a_rs = ctx_get(f, ctx, X_ARS), a_cs = ctx_get(f, ctx, X_ACS),
                 mp = ctx_get(f, ctx, X_MP), nq = ctx_get(f, ctx, X_NQ);
    LLVMValueRef MRv = k64(f, s->tile.MR), one = k64(f, 1);
    LLVMValueRef strip_words = mul(f, cdiv(f, K, k64(f, 2)), MRv);
    Loop ls;
    LLVMValueRef st = loop_begin(f, &ls, sdiv(f, mul(f, t, mp), nq), sdiv(f, mul(f, add(f, t, one), mp), nq), one);
    LLVMValueRef r0 = mul(f, st, MRv);
    LLVMValueRef pidx = sub(f, smin(f, MRv, sub(f, M, r0)), one);
    LLVMValueRef pa[] = {K, gep(f, cm->f32, A, mul(f, r0, a_rs)), a_rs, a_cs,
                         gep(f, cm->i32, AP, mul(f, st, strip_words))};
    LLVMBuildCall2(f->b, packer_t, table_get(f, ptable, pidx), pa, 5, "");
    loop_end(f, &ls);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}

/* Task t of the tm x tn grid: rows [m0, m1) in MR strips, column panels
 * [j0, j1) in whole groups of gp (the epilogue's), in blocks of about NCP
 * panels; per block, per KC block of K, per strip: A's bf16 words (from the
 * shared buffer AP, or, when AP is null, packed here into a stack buffer),
 * then the kernels along the block's panels; in the last KC block the
 * epilogue takes the strip's columns of the block. */
static LLVMValueRef emit_task(CgModule *cm, const BfShape *s, LLVMValueRef ptable, LLVMTypeRef packer_t) {
    char name[64];
    LLVMValueRef kernels[BF_MAX_MR * BF_MAX_NV];
    for (int m = 1; m <= s->tile.MR; m++)
        for (int v = 1; v <= s->tile.NV; v++) {
            snprintf(name, sizeof name, "attn_gemm_bf16_kernel_%d_%d", m, v);
            kernels[(m - 1) * s->tile.NV + v - 1] = emit_kernel(cm, s, name, m, v);
        }
    LLVMValueRef table = fn_table(cm, "attn_gemm_bf16_kernels", kernels, s->tile.MR * s->tile.NV);
    LLVMValueRef full_kernel = kernels[s->tile.MR * s->tile.NV - 1];
    LLVMValueRef fn = new_function(cm, "attn_gemm_bf16_task", task_type(cm), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef ctx = LLVMGetParam(fn, 0), t = LLVMGetParam(fn, 1);
    LLVMValueRef A = ctx_get(f, ctx, X_A), Bw = ctx_get(f, ctx, X_B), C = ctx_get(f, ctx, X_C);
    LLVMValueRef M = ctx_get(f, ctx, X_M), N = ctx_get(f, ctx, X_N), K = ctx_get(f, ctx, X_K);
    LLVMValueRef a_rs = ctx_get(f, ctx, X_ARS), a_cs = ctx_get(f, ctx, X_ACS), ldc = ctx_get(f, ctx, X_LDC);
    LLVMValueRef tm = ctx_get(f, ctx, X_TM), tn = ctx_get(f, ctx, X_TN), mp = ctx_get(f, ctx, X_MP);
    LLVMValueRef np = ctx_get(f, ctx, X_NP), gp = ctx_get(f, ctx, X_GP), AP = ctx_get(f, ctx, X_AP);
    LLVMValueRef epi = ctx_get(f, ctx, X_EPI), epi_arg = ctx_get(f, ctx, X_EPI_ARG);
    LLVMValueRef MRv = k64(f, s->tile.MR), NRv = k64(f, s->tile.NR), one = k64(f, 1);
    LLVMValueRef kp = mul(f, cdiv(f, K, k64(f, 2)), k64(f, 2)); /* K in whole pairs */
    LLVMValueRef m0, m1, j0, j1;
    task_rows(f, sdiv(f, t, tn), tm, mp, M, s->tile.MR, &m0, &m1);
    task_panels(f, LLVMBuildSRem(f->b, t, tn, ""), tn, np, gp, &j0, &j1);
    LLVMValueRef abuf = var(f, LLVMArrayType2(cm->i32, (uint64_t)(s->KC / 2) * (uint64_t)s->tile.MR), NULL);
    LLVMSetAlignment(abuf, 64);
    LLVMValueRef ncp = block_panels(f, j0, j1, s->NCP, gp);
    Loop ljc, lpc, lic, ljp;
    LLVMValueRef jc = loop_begin(f, &ljc, j0, j1, ncp);
    LLVMValueRef jce = smin(f, add(f, jc, ncp), j1);
    LLVMValueRef pc = loop_begin(f, &lpc, k64(f, 0), K, k64(f, s->KC));
    LLVMValueRef kc = smin(f, k64(f, s->KC), sub(f, K, pc));
    LLVMValueRef kq = cdiv(f, kc, k64(f, 2));
    LLVMValueRef acc = LLVMBuildZExt(f->b, cmp(f, LLVMIntSGT, pc, k64(f, 0)), cm->i64, "");
    LLVMValueRef last = cmp(f, LLVMIntEQ, add(f, pc, kc), K);
    LLVMValueRef ic = loop_begin(f, &lic, m0, m1, MRv);
    LLVMValueRef mr = smin(f, MRv, sub(f, m1, ic));
    LLVMValueRef aw_var = var(f, cm->ptr, NULL);
    If shared;
    if_begin(f, &shared, LLVMBuildIsNotNull(f->b, AP, ""));
    /* strip ic / MR, pair row pc / 2 (KC is even) */
    LLVMValueRef word = mul(f, add(f, mul(f, sdiv(f, ic, MRv), cdiv(f, K, k64(f, 2))), sdiv(f, pc, k64(f, 2))), MRv);
    LLVMBuildStore(f->b, gep(f, cm->i32, AP, word), aw_var);
    if_else(f, &shared);
    LLVMValueRef pa[] = {kc, gep(f, cm->f32, A, add(f, mul(f, ic, a_rs), mul(f, pc, a_cs))), a_rs, a_cs, abuf};
    LLVMBuildCall2(f->b, packer_t, table_get(f, ptable, sub(f, mr, one)), pa, 5, "");
    LLVMBuildStore(f->b, abuf, aw_var);
    if_end(f, &shared);
    LLVMValueRef aw = LLVMBuildLoad2(f->b, cm->ptr, aw_var, "");
    LLVMValueRef crow = gep(f, cm->f32, C, mul(f, ic, ldc));
    LLVMValueRef jp = loop_begin(f, &ljp, jc, jce, one);
    LLVMValueRef col = mul(f, jp, NRv);
    LLVMValueRef nr = smin(f, NRv, sub(f, N, col));
    /* panel jp's pair rows from pc / 2 on: word (jp*Kp + pc) * NR / 2 */
    LLVMValueRef bsrc = gep(f, cm->i32, Bw, sdiv(f, mul(f, add(f, mul(f, jp, kp), pc), NRv), k64(f, 2)));
    LLVMValueRef args[] = {kq, aw, bsrc, gep(f, cm->f32, crow, col), ldc, nr, acc};
    LLVMTypeRef kt = kernel_type(cm);
    If full;
    if_begin(f, &full, LLVMBuildAnd(f->b, cmp(f, LLVMIntEQ, mr, MRv), cmp(f, LLVMIntEQ, nr, NRv), ""));
    LLVMBuildCall2(f->b, kt, full_kernel, args, 7, "");
    if_else(f, &full);
    LLVMValueRef nv = cdiv(f, nr, k64(f, s->tile.L));
    LLVMValueRef idx = add(f, mul(f, sub(f, mr, one), k64(f, s->tile.NV)), sub(f, nv, one));
    LLVMValueRef slot = LLVMBuildInBoundsGEP2(f->b, cm->ptr, table, &idx, 1, "");
    LLVMBuildCall2(f->b, kt, LLVMBuildLoad2(f->b, cm->ptr, slot, ""), args, 7, "");
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

LLVMValueRef cg_gemm_packed_bf16(CgModule *cm) {
    LLVMValueRef fn = LLVMGetNamedFunction(cm->mod, "attn_gemm_packed_bf16");
    if (fn && LLVMCountBasicBlocks(fn) > 0)
        return fn;
    BfShape s = bf_shape(cm->target);
    LLVMValueRef packers[BF_MAX_MR];
    for (int m = 1; m <= s.tile.MR; m++)
        packers[m - 1] = emit_pack_a(cm, &s, m);
    LLVMValueRef ptable = fn_table(cm, "attn_gemm_bf16_packers", packers, s.tile.MR);
    LLVMTypeRef packer_t = LLVMGlobalGetValueType(packers[0]);
    LLVMValueRef task = emit_task(cm, &s, ptable, packer_t), pack_task = emit_pack_task(cm, &s, ptable, packer_t);
    LLVMTypeRef pt[] = {cm->i64, cm->i64, cm->i64, cm->ptr, cm->i64, cm->i64, cm->ptr,
                        cm->ptr, cm->i64, cm->ptr, cm->ptr, cm->ptr, cm->i64};
    if (!fn)
        fn = new_function(cm, "attn_gemm_packed_bf16", LLVMFunctionType(cm->void_t, pt, 13, 0), false);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef M = LLVMGetParam(fn, 0), N = LLVMGetParam(fn, 1), K = LLVMGetParam(fn, 2), A = LLVMGetParam(fn, 3),
                 a_rs = LLVMGetParam(fn, 4), a_cs = LLVMGetParam(fn, 5), Bw = LLVMGetParam(fn, 6),
                 C = LLVMGetParam(fn, 7), ldc = LLVMGetParam(fn, 8), pool = LLVMGetParam(fn, 9),
                 epi = LLVMGetParam(fn, 10), epi_arg = LLVMGetParam(fn, 11), epi_panels = LLVMGetParam(fn, 12);
    gemm_trivial_cases(f, M, N, K, C, ldc, epi, epi_arg);
    LLVMValueRef ctx = var(f, task_ctx_type(cm, TASK), NULL);
    const int fields[] = {X_A, X_B, X_C, X_EPI, X_EPI_ARG, X_M, X_N, X_K, X_ARS, X_ACS, X_LDC};
    const LLVMValueRef vals[] = {A, Bw, C, epi, epi_arg, M, N, K, a_rs, a_cs, ldc};
    for (int i = 0; i < 11; i++)
        ctx_set(f, ctx, fields[i], vals[i]);
    LLVMValueRef one = k64(f, 1);
    LLVMValueRef gp = LLVMBuildSelect(f->b, cmp(f, LLVMIntSLT, epi_panels, one), one, epi_panels, "");
    LLVMValueRef np = cdiv(f, N, k64(f, s.tile.NR)), mp = cdiv(f, M, k64(f, s.tile.MR));
    /* the grid: column groups over the threads (each packs all of its A
       rows), rows split as well when there are fewer groups than threads */
    LLVMValueRef T = pool_threads(f, pool);
    LLVMValueRef par = LLVMBuildAnd(f->b, cmp(f, LLVMIntSGT, T, one),
                                    cmp(f, LLVMIntSGE, mul(f, mul(f, M, N), K), mul(f, T, k64(f, 1 << 16))), "");
    LLVMValueRef tn = LLVMBuildSelect(f->b, par, smin(f, cdiv(f, np, gp), T), one, "");
    LLVMValueRef tm = LLVMBuildSelect(f->b, par, smin(f, mp, cdiv(f, T, tn)), one, "");
    ctx_set(f, ctx, X_TM, tm);
    ctx_set(f, ctx, X_TN, tn);
    ctx_set(f, ctx, X_MP, mp);
    ctx_set(f, ctx, X_NP, np);
    ctx_set(f, ctx, X_GP, gp);
    /* A packed once into a buffer that every task reads, the strips spread
       over the threads: each task packing its rows of A itself did it once
       per block of columns, and both threads packed all of A when they split
       the columns. One strip (a recurrent step) packs on the stack as
       before; so does every product when the buffer cannot be had. */
    LLVMValueRef ap = LLVMConstNull(cm->ptr);
    If many;
    LLVMValueRef ap_var = var(f, cm->ptr, ap);
    if_begin(f, &many, cmp(f, LLVMIntSGT, mp, one));
    LLVMValueRef bytes = mul(f, mul(f, mp, cdiv(f, K, k64(f, 2))), k64(f, (int64_t)s.tile.MR * 4));
    LLVMValueRef buf = call(f, runtime_fn(cm, "attn_rt_aligned_alloc"), &bytes, 1);
    LLVMBuildStore(f->b, buf, ap_var);
    ctx_set(f, ctx, X_AP, buf);
    If got;
    if_begin(f, &got, LLVMBuildIsNotNull(f->b, buf, ""));
    LLVMValueRef nq = LLVMBuildSelect(f->b, par, smin(f, mp, T), one, "");
    ctx_set(f, ctx, X_NQ, nq);
    run_tasks(f, pool, nq, pack_task, ctx);
    if_end(f, &got);
    if_else(f, &many);
    ctx_set(f, ctx, X_AP, ap);
    if_end(f, &many);
    LLVMValueRef nt = mul(f, tm, tn);
    run_tasks(f, pool, nt, task, ctx);
    call(f, runtime_fn(cm, "attn_rt_aligned_free"), (LLVMValueRef[]){LLVMBuildLoad2(f->b, cm->ptr, ap_var, "")}, 1);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}
