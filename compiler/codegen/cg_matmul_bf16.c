/*
 * cg_matmul_bf16.c — the matmul core for weights stored as bf16 panels
 * (attn_gemm_packed_bf16, see cg_matmul.h; layout in runtime/rt/pack.h,
 * design in docs/PRECISION.md).
 *
 * Same blocking as the f32 core's main path (cg_matmul.c): B in panels of NR
 * columns, each task over a block of panels, a KC block of K at a time, A
 * packed per MR-row strip into a stack buffer that stays in L1. What differs:
 *
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
#include "cg_build.h"
#include "cg_matmul.h"
#include "pack.h"

#include <stdio.h>

enum { BF_MAX_MR = 8, BF_MAX_NV = 4 };

typedef struct BfShape {
    int L;     /* 32-bit words (f32 lanes) per vector */
    int MR;    /* rows of the register tile */
    int NV;    /* vectors per row of the tile */
    int NR;    /* columns of a panel: NV * L */
    int KC;    /* rows of K per block (even) */
    int NCP;   /* panels per block of columns (about 480 KB of bf16 B) */
    bool dp;   /* vdpbf16ps: AVX512_BF16 with 16 lanes */
} BfShape;

static BfShape bf_shape(const CgTarget *t) {
    BfShape s;
    s.L = cg_target_lanes(t);
    s.NR = attn_pack_nr(s.L);
    s.NV = s.NR / s.L;
    s.MR = s.L >= 16 ? 8 : 6;
    s.KC = 512;
    s.NCP = (int)((480 * 1024 / 2 / s.KC) / s.NR);
    if (s.NCP < 1)
        s.NCP = 1;
    s.dp = s.L == 16 && cg_target_has(t, "avx512bf16");
    return s;
}

static LLVMValueRef gep(Fn *f, LLVMTypeRef t, LLVMValueRef p, LLVMValueRef idx) {
    return LLVMBuildInBoundsGEP2(f->b, t, p, &idx, 1, "");
}
static LLVMValueRef load4(Fn *f, LLVMTypeRef t, LLVMValueRef p) {
    LLVMValueRef v = LLVMBuildLoad2(f->b, t, p, "");
    LLVMSetAlignment(v, 4);
    return v;
}
static void store4(Fn *f, LLVMValueRef v, LLVMValueRef p) { LLVMSetAlignment(LLVMBuildStore(f->b, v, p), 4); }

static LLVMValueRef splat(Fn *f, LLVMValueRef x, int lanes) {
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(x), (unsigned)lanes);
    LLVMValueRef v = LLVMBuildInsertElement(f->b, LLVMGetPoison(vt), x, LLVMConstInt(f->cm->i32, 0, 0), "");
    return LLVMBuildShuffleVector(f->b, v, LLVMGetPoison(vt), LLVMConstNull(LLVMVectorType(f->cm->i32, (unsigned)lanes)),
                                  "");
}

/* Lanes l with l < rem. */
static LLVMValueRef lane_mask(Fn *f, LLVMValueRef rem, int lanes) {
    LLVMValueRef idx[16];
    for (int l = 0; l < lanes; l++)
        idx[l] = LLVMConstInt(f->cm->i32, (unsigned long long)l, 0);
    LLVMValueRef r = LLVMBuildTrunc(f->b, smin(f, rem, k64(f, lanes)), f->cm->i32, "");
    return LLVMBuildICmp(f->b, LLVMIntSLT, LLVMConstVector(idx, (unsigned)lanes), splat(f, r, lanes), "");
}

static LLVMValueRef intrinsic(Fn *f, const char *name, LLVMTypeRef *types, int ntypes, LLVMValueRef *args, int nargs) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(f->cm->mod, id, types, (size_t)ntypes);
    LLVMTypeRef ft = LLVMIntrinsicGetType(f->cm->ctx, id, types, (size_t)ntypes);
    return LLVMBuildCall2(f->b, ft, fn, args, (unsigned)nargs, "");
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

static LLVMValueRef fma_v(Fn *f, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
    LLVMValueRef args[] = {a, b, c};
    return cg_intrinsic(f->cm, f->b, "llvm.fma", LLVMTypeOf(c), args, 3);
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
    LLVMTypeRef vt = LLVMVectorType(cm->f32, (unsigned)s->L);
    If full, acc_if;
    if_begin(f, &full, cmp(f, LLVMIntSGE, nr, k64(f, (int64_t)nv * s->L)));
    for (int masked = 0; masked < 2; masked++) {
        if (masked)
            if_else(f, &full);
        LLVMValueRef mask[BF_MAX_NV] = {0};
        for (int v = 0; masked && v < nv; v++)
            mask[v] = lane_mask(f, sub(f, nr, k64(f, (int64_t)v * s->L)), s->L);
        if_begin(f, &acc_if, cmp(f, LLVMIntNE, accumulate, k64(f, 0)));
        for (int add_c = 1; add_c >= 0; add_c--) {
            if (!add_c)
                if_else(f, &acc_if);
            for (int i = 0; i < mr; i++)
                for (int v = 0; v < nv; v++) {
                    LLVMValueRef p = gep(f, cm->f32, C, add(f, mul(f, k64(f, i), ldc), k64(f, (int64_t)v * s->L)));
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
    const int L = s->L;
    LLVMTypeRef vt = LLVMVectorType(cm->f32, (unsigned)L), wt = LLVMVectorType(cm->i32, (unsigned)L);
    LLVMValueRef acc[BF_MAX_MR][BF_MAX_NV];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nv; v++)
            acc[i][v] = var(f, vt, LLVMConstNull(vt));
    Loop lq;
    LLVMValueRef q = loop_begin(f, &lq, k64(f, 0), kq, k64(f, 1));
    LLVMValueRef brow = gep(f, cm->i32, Bw, mul(f, q, k64(f, s->NR)));
    LLVMValueRef bw[BF_MAX_NV], blo[BF_MAX_NV], bhi[BF_MAX_NV];
    for (int v = 0; v < nv; v++) {
        bw[v] = load4(f, wt, gep(f, cm->i32, brow, k64(f, (int64_t)v * L)));
        if (!s->dp)
            widen(f, bw[v], L, &blo[v], &bhi[v]);
    }
    for (int i = 0; i < mr; i++) {
        LLVMValueRef aw = load4(f, cm->i32, gep(f, cm->i32, Aw, add(f, mul(f, q, k64(f, s->MR)), k64(f, i))));
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
    LLVMDisposeBuilder(f->b);
    return fn;
}

/* ---- packing A -------------------------------------------------------- */

/* The bf16 bits (in the low half of an i32) of f32 x, rounded to nearest-even
 * as attn_bf16_round does; NaN stays NaN. */
static LLVMValueRef round_bf16(Fn *f, LLVMValueRef x) {
    CgModule *cm = f->cm;
    LLVMValueRef u = LLVMBuildBitCast(f->b, x, cm->i32, "");
    LLVMValueRef c16 = LLVMConstInt(cm->i32, 16, 0);
    LLVMValueRef odd = LLVMBuildAnd(f->b, LLVMBuildLShr(f->b, u, c16, ""), LLVMConstInt(cm->i32, 1, 0), "");
    LLVMValueRef r = LLVMBuildAdd(f->b, u, LLVMBuildAdd(f->b, odd, LLVMConstInt(cm->i32, 0x7fff, 0), ""), "");
    r = LLVMBuildLShr(f->b, r, c16, "");
    LLVMValueRef mag = LLVMBuildAnd(f->b, u, LLVMConstInt(cm->i32, 0x7fffffffu, 0), "");
    LLVMValueRef nan = LLVMBuildICmp(f->b, LLVMIntUGT, mag, LLVMConstInt(cm->i32, 0x7f800000u, 0), "");
    LLVMValueRef quiet = LLVMBuildOr(f->b, LLVMBuildLShr(f->b, u, c16, ""), LLVMConstInt(cm->i32, 0x40, 0), "");
    return LLVMBuildSelect(f->b, nan, quiet, r, "");
}

/* void pack_a(i64 kc, ptr A, i64 a_rs, i64 a_cs, ptr out, i64 mr): word (q, i)
 * of out (out[q*MR + i]) = (A[i][2q], A[i][2q+1]) in bf16 for q < ceil(kc/2),
 * i < mr; a missing row 2q+1 (kc odd) is zero. */
static LLVMValueRef emit_pack_a(CgModule *cm, const BfShape *s) {
    LLVMTypeRef pt[] = {cm->i64, cm->ptr, cm->i64, cm->i64, cm->ptr, cm->i64};
    LLVMValueRef fn = new_function(cm, "attn_gemm_bf16_pack_a", LLVMFunctionType(cm->void_t, pt, 6, 0), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef kc = LLVMGetParam(fn, 0), A = LLVMGetParam(fn, 1), a_rs = LLVMGetParam(fn, 2),
                 a_cs = LLVMGetParam(fn, 3), out = LLVMGetParam(fn, 4), mr = LLVMGetParam(fn, 5);
    Loop li;
    LLVMValueRef i = loop_begin(f, &li, k64(f, 0), mr, k64(f, 1));
    LLVMValueRef row = gep(f, cm->f32, A, mul(f, i, a_rs));
    Loop lp;
    LLVMValueRef whole = sdiv(f, kc, k64(f, 2));
    LLVMValueRef q = loop_begin(f, &lp, k64(f, 0), whole, k64(f, 1));
    LLVMValueRef p = mul(f, q, k64(f, 2));
    LLVMValueRef lo = round_bf16(f, load4(f, cm->f32, gep(f, cm->f32, row, mul(f, p, a_cs))));
    LLVMValueRef hi = round_bf16(f, load4(f, cm->f32, gep(f, cm->f32, row, mul(f, add(f, p, k64(f, 1)), a_cs))));
    LLVMValueRef w = LLVMBuildOr(f->b, lo, LLVMBuildShl(f->b, hi, LLVMConstInt(cm->i32, 16, 0), ""), "");
    store4(f, w, gep(f, cm->i32, out, add(f, mul(f, q, k64(f, s->MR)), i)));
    loop_end(f, &lp);
    If odd;
    if_begin(f, &odd, cmp(f, LLVMIntNE, LLVMBuildSRem(f->b, kc, k64(f, 2), ""), k64(f, 0)));
    LLVMValueRef last = round_bf16(f, load4(f, cm->f32, gep(f, cm->f32, row, mul(f, sub(f, kc, k64(f, 1)), a_cs))));
    store4(f, last, gep(f, cm->i32, out, add(f, mul(f, whole, k64(f, s->MR)), i)));
    if_end(f, &odd);
    loop_end(f, &li);
    LLVMBuildRetVoid(f->b);
    LLVMDisposeBuilder(f->b);
    return fn;
}

/* ---- tasks and the driver --------------------------------------------- */

enum { X_A, X_B, X_C, X_EPI, X_EPI_ARG, X_M, X_N, X_K, X_ARS, X_ACS, X_LDC, X_TM, X_TN, X_MP, X_NP, X_GP, X_COUNT };

static LLVMTypeRef ctx_type(CgModule *cm) {
    LLVMTypeRef t[X_COUNT];
    for (int i = 0; i < X_COUNT; i++)
        t[i] = i <= X_EPI_ARG ? cm->ptr : cm->i64;
    return LLVMStructTypeInContext(cm->ctx, t, X_COUNT, 0);
}
static LLVMValueRef ctx_get(Fn *f, LLVMValueRef ctx, int field) {
    LLVMValueRef p = LLVMBuildStructGEP2(f->b, ctx_type(f->cm), ctx, (unsigned)field, "");
    return LLVMBuildLoad2(f->b, field <= X_EPI_ARG ? f->cm->ptr : f->cm->i64, p, "");
}
static void ctx_set(Fn *f, LLVMValueRef ctx, int field, LLVMValueRef v) {
    LLVMBuildStore(f->b, v, LLVMBuildStructGEP2(f->b, ctx_type(f->cm), ctx, (unsigned)field, ""));
}

/* if (when && epi) epi(epi_arg, r0, r1, c0, c1); when NULL: always. */
static void call_epi(Fn *f, LLVMValueRef when, LLVMValueRef epi, LLVMValueRef epi_arg, LLVMValueRef r0,
                     LLVMValueRef r1, LLVMValueRef c0, LLVMValueRef c1) {
    CgModule *cm = f->cm;
    LLVMValueRef has = LLVMBuildIsNotNull(f->b, epi, "");
    If s;
    if_begin(f, &s, when ? LLVMBuildAnd(f->b, when, has, "") : has);
    LLVMTypeRef p[] = {cm->ptr, cm->i64, cm->i64, cm->i64, cm->i64};
    LLVMValueRef args[] = {epi_arg, r0, r1, c0, c1};
    LLVMBuildCall2(f->b, LLVMFunctionType(cm->void_t, p, 5, 0), epi, args, 5, "");
    if_end(f, &s);
}

static LLVMValueRef fn_table(CgModule *cm, LLVMValueRef *fns, int n) {
    LLVMTypeRef at = LLVMArrayType2(cm->ptr, (uint64_t)n);
    LLVMValueRef g = LLVMAddGlobal(cm->mod, at, "attn_gemm_bf16_kernels");
    LLVMSetInitializer(g, LLVMConstArray2(cm->ptr, fns, (uint64_t)n));
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMInternalLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    return g;
}

/* Task t of the tm x tn grid: rows [m0, m1) in MR strips, column panels
 * [j0, j1) in whole groups of gp (the epilogue's), in blocks of about NCP
 * panels; per block, per KC block of K, per strip: A packed to bf16 words,
 * then the kernels along the block's panels; in the last KC block the
 * epilogue takes the strip's columns of the block. */
static LLVMValueRef emit_task(CgModule *cm, const BfShape *s) {
    char name[64];
    LLVMValueRef kernels[BF_MAX_MR * BF_MAX_NV];
    for (int m = 1; m <= s->MR; m++)
        for (int v = 1; v <= s->NV; v++) {
            snprintf(name, sizeof name, "attn_gemm_bf16_kernel_%d_%d", m, v);
            kernels[(m - 1) * s->NV + v - 1] = emit_kernel(cm, s, name, m, v);
        }
    LLVMValueRef table = fn_table(cm, kernels, s->MR * s->NV), full_kernel = kernels[s->MR * s->NV - 1];
    LLVMValueRef pack_a = emit_pack_a(cm, s);
    LLVMTypeRef tt[] = {cm->ptr, cm->i64};
    LLVMValueRef fn = new_function(cm, "attn_gemm_bf16_task", LLVMFunctionType(cm->void_t, tt, 2, 0), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef ctx = LLVMGetParam(fn, 0), t = LLVMGetParam(fn, 1);
    LLVMValueRef A = ctx_get(f, ctx, X_A), Bw = ctx_get(f, ctx, X_B), C = ctx_get(f, ctx, X_C);
    LLVMValueRef M = ctx_get(f, ctx, X_M), N = ctx_get(f, ctx, X_N), K = ctx_get(f, ctx, X_K);
    LLVMValueRef a_rs = ctx_get(f, ctx, X_ARS), a_cs = ctx_get(f, ctx, X_ACS), ldc = ctx_get(f, ctx, X_LDC);
    LLVMValueRef tm = ctx_get(f, ctx, X_TM), tn = ctx_get(f, ctx, X_TN), mp = ctx_get(f, ctx, X_MP);
    LLVMValueRef np = ctx_get(f, ctx, X_NP), gp = ctx_get(f, ctx, X_GP);
    LLVMValueRef epi = ctx_get(f, ctx, X_EPI), epi_arg = ctx_get(f, ctx, X_EPI_ARG);
    LLVMValueRef MRv = k64(f, s->MR), NRv = k64(f, s->NR), one = k64(f, 1);
    LLVMValueRef kp = mul(f, cdiv(f, K, k64(f, 2)), k64(f, 2)); /* K in whole pairs */
    LLVMValueRef ti = sdiv(f, t, tn), tj = LLVMBuildSRem(f->b, t, tn, "");
    LLVMValueRef m0 = mul(f, sdiv(f, mul(f, ti, mp), tm), MRv);
    LLVMValueRef m1 = smin(f, M, mul(f, sdiv(f, mul(f, add(f, ti, one), mp), tm), MRv));
    LLVMValueRef groups = cdiv(f, np, gp);
    LLVMValueRef j0 = smin(f, np, mul(f, sdiv(f, mul(f, tj, groups), tn), gp));
    LLVMValueRef j1 = smin(f, np, mul(f, sdiv(f, mul(f, add(f, tj, one), groups), tn), gp));
    LLVMValueRef abuf = var(f, LLVMArrayType2(cm->i32, (uint64_t)(s->KC / 2) * (uint64_t)s->MR), NULL);
    LLVMSetAlignment(abuf, 64);
    /* blocks of about NCP panels, whole groups each */
    LLVMValueRef nblocks = cdiv(f, sub(f, j1, j0), k64(f, s->NCP));
    nblocks = LLVMBuildSelect(f->b, cmp(f, LLVMIntSLT, nblocks, one), one, nblocks, "");
    LLVMValueRef ncp = cdiv(f, sub(f, j1, j0), nblocks);
    ncp = mul(f, cdiv(f, LLVMBuildSelect(f->b, cmp(f, LLVMIntSLT, ncp, one), one, ncp, ""), gp), gp);
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
    LLVMValueRef pa[] = {kc, gep(f, cm->f32, A, add(f, mul(f, ic, a_rs), mul(f, pc, a_cs))), a_rs, a_cs, abuf, mr};
    call(f, pack_a, pa, 6);
    LLVMValueRef crow = gep(f, cm->f32, C, mul(f, ic, ldc));
    LLVMValueRef jp = loop_begin(f, &ljp, jc, jce, one);
    LLVMValueRef col = mul(f, jp, NRv);
    LLVMValueRef nr = smin(f, NRv, sub(f, N, col));
    /* panel jp's pair rows from pc / 2 on: word (jp*Kp + pc) * NR / 2 */
    LLVMValueRef bsrc = gep(f, cm->i32, Bw, sdiv(f, mul(f, add(f, mul(f, jp, kp), pc), NRv), k64(f, 2)));
    LLVMValueRef args[] = {kq, abuf, bsrc, gep(f, cm->f32, crow, col), ldc, nr, acc};
    LLVMTypeRef kt = kernel_type(cm);
    If full;
    if_begin(f, &full, LLVMBuildAnd(f->b, cmp(f, LLVMIntEQ, mr, MRv), cmp(f, LLVMIntEQ, nr, NRv), ""));
    LLVMBuildCall2(f->b, kt, full_kernel, args, 7, "");
    if_else(f, &full);
    LLVMValueRef nv = cdiv(f, nr, k64(f, s->L));
    LLVMValueRef idx = add(f, mul(f, sub(f, mr, one), k64(f, s->NV)), sub(f, nv, one));
    LLVMValueRef slot = LLVMBuildInBoundsGEP2(f->b, cm->ptr, table, &idx, 1, "");
    LLVMBuildCall2(f->b, kt, LLVMBuildLoad2(f->b, cm->ptr, slot, ""), args, 7, "");
    if_end(f, &full);
    loop_end(f, &ljp);
    call_epi(f, last, epi, epi_arg, ic, add(f, ic, mr), mul(f, jc, NRv), smin(f, mul(f, jce, NRv), N));
    loop_end(f, &lic);
    loop_end(f, &lpc);
    loop_end(f, &ljc);
    LLVMBuildRetVoid(f->b);
    LLVMDisposeBuilder(f->b);
    return fn;
}

LLVMValueRef cg_gemm_packed_bf16(CgModule *cm) {
    LLVMValueRef fn = LLVMGetNamedFunction(cm->mod, "attn_gemm_packed_bf16");
    if (fn && LLVMCountBasicBlocks(fn) > 0)
        return fn;
    BfShape s = bf_shape(cm->target);
    LLVMValueRef task = emit_task(cm, &s);
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
    If empty, nok;
    if_begin(f, &empty, LLVMBuildOr(f->b, cmp(f, LLVMIntSLE, M, k64(f, 0)), cmp(f, LLVMIntSLE, N, k64(f, 0)), ""));
    LLVMBuildRetVoid(f->b);
    LLVMPositionBuilderAtEnd(f->b, block(f, "dead"));
    if_end(f, &empty);
    if_begin(f, &nok, cmp(f, LLVMIntSLE, K, k64(f, 0)));
    {
        Loop li;
        LLVMValueRef i = loop_begin(f, &li, k64(f, 0), M, k64(f, 1));
        LLVMBuildMemSet(f->b, gep(f, cm->f32, C, mul(f, i, ldc)), LLVMConstInt(cm->i8, 0, 0), mul(f, N, k64(f, 4)), 4);
        loop_end(f, &li);
        call_epi(f, NULL, epi, epi_arg, k64(f, 0), M, k64(f, 0), N);
        LLVMBuildRetVoid(f->b);
        LLVMPositionBuilderAtEnd(f->b, block(f, "dead"));
    }
    if_end(f, &nok);
    LLVMValueRef ctx = var(f, ctx_type(cm), NULL);
    const int fields[] = {X_A, X_B, X_C, X_EPI, X_EPI_ARG, X_M, X_N, X_K, X_ARS, X_ACS, X_LDC};
    const LLVMValueRef vals[] = {A, Bw, C, epi, epi_arg, M, N, K, a_rs, a_cs, ldc};
    for (int i = 0; i < 11; i++)
        ctx_set(f, ctx, fields[i], vals[i]);
    LLVMValueRef one = k64(f, 1);
    LLVMValueRef gp = LLVMBuildSelect(f->b, cmp(f, LLVMIntSLT, epi_panels, one), one, epi_panels, "");
    LLVMValueRef np = cdiv(f, N, k64(f, s.NR)), mp = cdiv(f, M, k64(f, s.MR));
    /* the grid: column groups over the threads (each packs all of its A
       rows), rows split as well when there are fewer groups than threads */
    LLVMValueRef T = LLVMBuildSExt(f->b, call(f, runtime_fn(cm, "attn_pool_threads"), &pool, 1), cm->i64, "");
    LLVMValueRef par = LLVMBuildAnd(f->b, cmp(f, LLVMIntSGT, T, one),
                                    cmp(f, LLVMIntSGE, mul(f, mul(f, M, N), K), mul(f, T, k64(f, 1 << 16))), "");
    LLVMValueRef tn = LLVMBuildSelect(f->b, par, smin(f, cdiv(f, np, gp), T), one, "");
    LLVMValueRef tm = LLVMBuildSelect(f->b, par, smin(f, mp, cdiv(f, T, tn)), one, "");
    ctx_set(f, ctx, X_TM, tm);
    ctx_set(f, ctx, X_TN, tn);
    ctx_set(f, ctx, X_MP, mp);
    ctx_set(f, ctx, X_NP, np);
    ctx_set(f, ctx, X_GP, gp);
    LLVMValueRef nt = mul(f, tm, tn);
    If single;
    if_begin(f, &single, cmp(f, LLVMIntEQ, nt, one));
    LLVMValueRef a1[] = {ctx, k64(f, 0)};
    call(f, task, a1, 2);
    if_else(f, &single);
    LLVMValueRef a2[] = {pool, nt, task, ctx};
    call(f, runtime_fn(cm, "attn_rt_parallel_for"), a2, 4);
    if_end(f, &single);
    LLVMBuildRetVoid(f->b);
    LLVMDisposeBuilder(f->b);
    return fn;
}
