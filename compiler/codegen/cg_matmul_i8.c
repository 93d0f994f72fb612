/*
 * cg_matmul_i8.c — the generated int8 GEMM (see cg_matmul_i8.h).
 *
 * Shape of the code, for a target with L int32 lanes per vector:
 *
 *  - quantization: the rows of A into one per-call buffer of M rows of Kq
 *    unsigned bytes (Kq = K rounded up to 4), M scales and M zero points;
 *    vectorised when rows are contiguous. The compute tasks quantize the
 *    MR-row tiles they need themselves, each tile once: a task claims every
 *    unclaimed tile of its rows (a flag per tile: 0 free, 1 being quantized,
 *    2 done), quantizes it, then waits for the tiles others claimed. Tiles
 *    spread over the threads as they start, and no pool loop of its own (and
 *    its wait for the slowest thread) comes before the product.
 *  - micro-kernels: an MR x NR tile of C (NR = NV vectors of L int32) in
 *    registers over all of K; per group of 4 rows of K, NV vector loads of the
 *    packed weight (4 bytes of each of NR columns), MR broadcasts of 4 bytes of
 *    a row of A, MR*NV vpdpbusd. The tile is dequantized as it is stored:
 *    (acc - a_zero[row] * colsum) * a_scale[row] * w_scale[col]; edge columns
 *    masked.
 *  - blocking and threads: an even grid of tasks over MR-row panels and whole
 *    groups of NR-column panels; each task walks its panels in blocks of at
 *    most NCP that stay in L2 while its row tiles go by, and hands each
 *    finished MR-row strip of a block to the epilogue.
 * The int32 sums cannot overflow below K = 2^31 / (255 * 127) ~ 66000.
 */
#include "cg_matmul_i8.h"
#include "cg_core_util.h"
#include "pack.h"

#include <stdio.h>
#include <string.h>

enum { MAX_MR = 8, MAX_NV = 4, MAX_U = 4, NCP_MAX = 10, L2_BLOCK = 384 * 1024 };

typedef struct Shape {
    CoreTile tile; /* L: int32 lanes per vector */
    bool vnni;
} Shape;

static Shape shape_for(const CgTarget *t) {
    Shape s;
    s.tile = core_tile(t);
    s.vnni = s.tile.L == 16 && cg_target_has(t, "avx512vnni");
    return s;
}

/* ---- helpers of this core (the shared ones are in cg_core_util.h) ---- */

static LLVMValueRef unary(Fn *f, const char *name, LLVMValueRef x) {
    LLVMTypeRef t = LLVMTypeOf(x);
    return intrinsic(f, name, &t, 1, &x, 1);
}

static LLVMValueRef at_least(Fn *f, LLVMValueRef a, int64_t lo) {
    return LLVMBuildSelect(f->b, cmp(f, LLVMIntSLT, a, k64(f, lo)), k64(f, lo), a, "");
}

/* ---- the task context --------------------------------------------------- */

/* Pointers first (up to Q_EPI_ARG), then i64s. */
enum {
    Q_A, Q_B, Q_C, Q_AQ, Q_AS, Q_AZ, Q_FLAGS, Q_EPI, Q_EPI_ARG,
    Q_M, Q_N, Q_K, Q_ARS, Q_ACS, Q_LDC, Q_KQ, Q_TM, Q_TN, Q_MP, Q_NP, Q_GP, Q_NCP, Q_COUNT
};

static const TaskCtx TASK = {Q_EPI_ARG + 1, Q_COUNT};
_Static_assert(Q_COUNT <= TASK_CTX_MAX_FIELDS, "the task context fits task_ctx_type");

static LLVMValueRef ctx_get(Fn *f, LLVMValueRef ctx, int field) { return task_ctx_get(f, TASK, ctx, field); }
static void ctx_set(Fn *f, LLVMValueRef ctx, int field, LLVMValueRef v) { task_ctx_set(f, TASK, ctx, field, v); }

/* ---- quantizing the rows of A ------------------------------------------ */

/* min(lo, x) and max(hi, x) into the variables lo and hi (scalars or vectors). */
static void min_max(Fn *f, LLVMTypeRef t, LLVMValueRef lo, LLVMValueRef hi, LLVMValueRef x) {
    LLVMValueRef a[] = {LLVMBuildLoad2(f->b, t, lo, ""), x}, b[] = {LLVMBuildLoad2(f->b, t, hi, ""), x};
    LLVMBuildStore(f->b, intrinsic(f, "llvm.minnum", &t, 1, a, 2), lo);
    LLVMBuildStore(f->b, intrinsic(f, "llvm.maxnum", &t, 1, b, 2), hi);
}

/* clamp(nearbyint(x * inv) + zp, 0, 255) as bytes (x: f32 scalar or vector, inv and zp splat to match). */
static LLVMValueRef to_u8(Fn *f, LLVMValueRef x, LLVMValueRef inv, LLVMValueRef zp, int lanes) {
    CgModule *cm = f->cm;
    LLVMTypeRef it = lanes > 1 ? LLVMVectorType(cm->i32, (unsigned)lanes) : cm->i32;
    LLVMTypeRef bt = lanes > 1 ? LLVMVectorType(cm->i8, (unsigned)lanes) : cm->i8;
    LLVMValueRef r = unary(f, "llvm.nearbyint", LLVMBuildFMul(f->b, x, inv, ""));
    LLVMValueRef q = LLVMBuildAdd(f->b, LLVMBuildFPToSI(f->b, r, it, ""), zp, "");
    LLVMValueRef lo[] = {q, lanes > 1 ? LLVMConstNull(it) : LLVMConstInt(cm->i32, 0, 0)};
    q = intrinsic(f, "llvm.smax", &it, 1, lo, 2);
    LLVMValueRef top = LLVMConstInt(cm->i32, 255, 0);
    LLVMValueRef hi[] = {q, lanes > 1 ? splat(f, top, lanes) : top};
    return LLVMBuildTrunc(f->b, intrinsic(f, "llvm.smin", &it, 1, hi, 2), bt, "");
}

/* Row `src` (K floats, stride a_cs) into Kq bytes at dst, asymmetric: over
 * [lo, hi] = [min(0, min x), max(0, max x)], scale = (hi - lo) / 255 and
 * zero point zp = nearbyint(-lo / scale), so u8 = clamp(nearbyint(x / scale)
 * + zp, 0, 255) uses all 256 levels (a one-sided row, such as a GELU's output,
 * gets steps half as large as with a symmetric range); the scale and zp go to
 * *scale and *zp. */
static void quantize_row(Fn *f, const Shape *s, LLVMValueRef src, LLVMValueRef a_cs, LLVMValueRef K,
                         LLVMValueRef Kq, LLVMValueRef dst, LLVMValueRef *scale, LLVMValueRef *zp) {
    CgModule *cm = f->cm;
    const int L = s->tile.L;
    LLVMTypeRef vt = LLVMVectorType(cm->f32, (unsigned)L);
    LLVMValueRef lo = var(f, cm->f32, cg_f32(cm, 0.0, 1)), hi = var(f, cm->f32, cg_f32(cm, 0.0, 1));
    LLVMValueRef unit = cmp(f, LLVMIntEQ, a_cs, k64(f, 1));
    Loop lp;
    If contiguous;
    if_begin(f, &contiguous, unit);
    {
        /* lanes past K load as 0, which the range holds anyway */
        LLVMValueRef vlo = var(f, vt, LLVMConstNull(vt)), vhi = var(f, vt, LLVMConstNull(vt));
        LLVMValueRef p = loop_begin(f, &lp, k64(f, 0), K, k64(f, L));
        LLVMValueRef x = masked_load(f, vt, gep(f, cm->f32, src, p), lane_mask(f, sub(f, K, p), L), LLVMConstNull(vt));
        min_max(f, vt, vlo, vhi, x);
        loop_end(f, &lp);
        LLVMValueRef a = LLVMBuildLoad2(f->b, vt, vlo, ""), b = LLVMBuildLoad2(f->b, vt, vhi, "");
        LLVMBuildStore(f->b, intrinsic(f, "llvm.vector.reduce.fmin", &vt, 1, &a, 1), lo);
        LLVMBuildStore(f->b, intrinsic(f, "llvm.vector.reduce.fmax", &vt, 1, &b, 1), hi);
    }
    if_else(f, &contiguous);
    {
        LLVMValueRef p = loop_begin(f, &lp, k64(f, 0), K, k64(f, 1));
        min_max(f, cm->f32, lo, hi, load_aligned(f, cm->f32, gep(f, cm->f32, src, mul(f, p, a_cs)), 4));
        loop_end(f, &lp);
    }
    if_end(f, &contiguous);
    LLVMValueRef lov = LLVMBuildLoad2(f->b, cm->f32, lo, "");
    LLVMValueRef range = LLVMBuildFSub(f->b, LLVMBuildLoad2(f->b, cm->f32, hi, ""), lov, "");
    LLVMValueRef pos = LLVMBuildFCmp(f->b, LLVMRealOGT, range, cg_f32(cm, 0.0, 1), "");
    LLVMValueRef inv = LLVMBuildSelect(f->b, pos, LLVMBuildFDiv(f->b, cg_f32(cm, 255.0, 1), range, ""),
                                       cg_f32(cm, 0.0, 1), "");
    *scale = LLVMBuildFDiv(f->b, range, cg_f32(cm, 255.0, 1), "");
    LLVMValueRef z = unary(f, "llvm.nearbyint", LLVMBuildFMul(f->b, LLVMBuildFNeg(f->b, lov, ""), inv, ""));
    *zp = LLVMBuildFPToSI(f->b, z, cm->i32, "");
    if_begin(f, &contiguous, unit);
    {
        LLVMValueRef p = loop_begin(f, &lp, k64(f, 0), K, k64(f, L));
        LLVMValueRef mask = lane_mask(f, sub(f, K, p), L);
        LLVMValueRef v = masked_load(f, vt, gep(f, cm->f32, src, p), mask, LLVMConstNull(vt));
        masked_store(f, to_u8(f, v, splat(f, inv, L), splat(f, *zp, L), L), gep(f, cm->i8, dst, p), mask, 1);
        loop_end(f, &lp);
    }
    if_else(f, &contiguous);
    {
        LLVMValueRef p = loop_begin(f, &lp, k64(f, 0), K, k64(f, 1));
        LLVMValueRef x = load_aligned(f, cm->f32, gep(f, cm->f32, src, mul(f, p, a_cs)), 4);
        store_aligned(f, to_u8(f, x, inv, *zp, 1), gep(f, cm->i8, dst, p), 1);
        loop_end(f, &lp);
    }
    if_end(f, &contiguous);
    /* rows K..Kq meet zero weights; any value would do, 0 keeps them defined */
    LLVMValueRef p = loop_begin(f, &lp, K, Kq, k64(f, 1));
    store_aligned(f, LLVMConstInt(cm->i8, 0, 0), gep(f, cm->i8, dst, p), 1);
    loop_end(f, &lp);
}

/* void quantize(ctx, i64 r0, i64 r1): rows [r0, r1) of A quantized. */
static LLVMValueRef emit_quantize_rows(CgModule *cm, const Shape *s) {
    LLVMTypeRef p[] = {cm->ptr, cm->i64, cm->i64};
    LLVMValueRef fn = new_function(cm, "attn_gemm_i8_quantize", LLVMFunctionType(cm->void_t, p, 3, 0), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef ctx = LLVMGetParam(fn, 0), r0 = LLVMGetParam(fn, 1), r1 = LLVMGetParam(fn, 2);
    LLVMValueRef A = ctx_get(f, ctx, Q_A), Aq = ctx_get(f, ctx, Q_AQ), As = ctx_get(f, ctx, Q_AS);
    LLVMValueRef K = ctx_get(f, ctx, Q_K), Kq = ctx_get(f, ctx, Q_KQ);
    LLVMValueRef a_rs = ctx_get(f, ctx, Q_ARS), a_cs = ctx_get(f, ctx, Q_ACS);
    Loop li;
    LLVMValueRef i = loop_begin(f, &li, r0, r1, k64(f, 1));
    LLVMValueRef scale, zp;
    quantize_row(f, s, gep(f, cm->f32, A, mul(f, i, a_rs)), a_cs, K, Kq, gep(f, cm->i8, Aq, mul(f, i, Kq)), &scale,
                 &zp);
    store_aligned(f, scale, gep(f, cm->f32, As, i), 4);
    store_aligned(f, zp, gep(f, cm->i32, ctx_get(f, ctx, Q_AZ), i), 4);
    loop_end(f, &li);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}

enum { TILE_FREE, TILE_CLAIMED, TILE_DONE };
/* i32s from one tile's flag to the next: a cache line each, so that a thread
   waiting on one tile does not pull the line away from the thread claiming
   and finishing the next */
enum { FLAG_STRIDE = 16 };

/* The MR-row tiles [q0, q1) of A quantized before the task reads them: the
 * free ones claimed and quantized here, then a wait for those that other
 * tasks claimed (they are being quantized: the wait always ends). */
static void quantize_tiles(Fn *f, const Shape *s, LLVMValueRef ctx, LLVMValueRef quantize, LLVMValueRef q0,
                           LLVMValueRef q1) {
    CgModule *cm = f->cm;
    LLVMValueRef flags = ctx_get(f, ctx, Q_FLAGS), M = ctx_get(f, ctx, Q_M), MRv = k64(f, s->tile.MR);
    LLVMValueRef state[] = {LLVMConstInt(cm->i32, TILE_FREE, 0), LLVMConstInt(cm->i32, TILE_CLAIMED, 0),
                            LLVMConstInt(cm->i32, TILE_DONE, 0)};
    Loop lc, lw;
    LLVMValueRef q = loop_begin(f, &lc, q0, q1, k64(f, 1));
    LLVMValueRef flag = gep(f, cm->i32, flags, mul(f, q, k64(f, FLAG_STRIDE)));
    LLVMValueRef cas = LLVMBuildAtomicCmpXchg(f->b, flag, state[TILE_FREE], state[TILE_CLAIMED],
                                              LLVMAtomicOrderingAcquire, LLVMAtomicOrderingMonotonic, 0);
    If won;
    if_begin(f, &won, LLVMBuildExtractValue(f->b, cas, 1, ""));
    LLVMTypeRef qp[] = {cm->ptr, cm->i64, cm->i64};
    LLVMValueRef args[] = {ctx, mul(f, q, MRv), smin(f, M, mul(f, add(f, q, k64(f, 1)), MRv))};
    LLVMBuildCall2(f->b, LLVMFunctionType(cm->void_t, qp, 3, 0), quantize, args, 3, "");
    LLVMValueRef done = LLVMBuildStore(f->b, state[TILE_DONE], flag);
    LLVMSetOrdering(done, LLVMAtomicOrderingRelease);
    LLVMSetAlignment(done, 4);
    if_end(f, &won);
    loop_end(f, &lc);
    q = loop_begin(f, &lw, q0, q1, k64(f, 1));
    flag = gep(f, cm->i32, flags, mul(f, q, k64(f, FLAG_STRIDE)));
    LLVMBasicBlockRef spin = block(f, "tile.wait"), ready = block(f, "tile.ready");
    LLVMBuildBr(f->b, spin);
    LLVMPositionBuilderAtEnd(f->b, spin);
    if (cm->target->triple && strstr(cm->target->triple, "x86")) /* a spin-wait hint to the core */
        intrinsic(f, "llvm.x86.sse2.pause", NULL, 0, NULL, 0);
    LLVMValueRef now = LLVMBuildLoad2(f->b, cm->i32, flag, "");
    LLVMSetOrdering(now, LLVMAtomicOrderingAcquire);
    LLVMSetAlignment(now, 4);
    LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntEQ, now, state[TILE_DONE], ""), ready, spin);
    LLVMPositionBuilderAtEnd(f->b, ready);
    loop_end(f, &lw);
}

/* ---- micro-kernels ------------------------------------------------------ */

/* acc + the sums of four products of unsigned bytes of a by signed bytes of b
 * in each int32 lane: vpdpbusd, or the same sums widened to int32. */
static LLVMValueRef dot4(Fn *f, const Shape *s, LLVMValueRef acc, LLVMValueRef a, LLVMValueRef b) {
    CgModule *cm = f->cm;
    const int L = s->tile.L;
    if (s->vnni) {
        const char *name = "llvm.x86.avx512.vpdpbusd.512";
        unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
        LLVMTypeRef ft = LLVMIntrinsicGetType(cm->ctx, id, NULL, 0);
        LLVMTypeRef pt[3];
        LLVMGetParamTypes(ft, pt);
        LLVMValueRef args[] = {acc, LLVMBuildBitCast(f->b, a, pt[1], ""), LLVMBuildBitCast(f->b, b, pt[2], "")};
        return LLVMBuildCall2(f->b, ft, LLVMGetIntrinsicDeclaration(cm->mod, id, NULL, 0), args, 3, "");
    }
    LLVMTypeRef bytes = LLVMVectorType(cm->i8, (unsigned)(4 * L)), wide = LLVMVectorType(cm->i32, (unsigned)(4 * L));
    LLVMValueRef au = LLVMBuildZExt(f->b, LLVMBuildBitCast(f->b, a, bytes, ""), wide, "");
    LLVMValueRef bs = LLVMBuildSExt(f->b, LLVMBuildBitCast(f->b, b, bytes, ""), wide, "");
    LLVMValueRef prod = LLVMBuildMul(f->b, au, bs, "");
    for (int q = 0; q < 4; q++) {
        LLVMValueRef idx[16];
        for (int l = 0; l < L; l++)
            idx[l] = LLVMConstInt(cm->i32, (unsigned long long)(4 * l + q), 0);
        LLVMValueRef part = LLVMBuildShuffleVector(f->b, prod, LLVMGetPoison(wide), LLVMConstVector(idx, (unsigned)L), "");
        acc = LLVMBuildAdd(f->b, acc, part, "");
    }
    return acc;
}

/* void kernel(i64 groups, ptr Aq, i64 a_rs, ptr As, ptr Az, ptr Bp, ptr ws, ptr colsum, ptr C, i64 ldc, i64 nr) */
static LLVMTypeRef kernel_type(CgModule *cm) {
    LLVMTypeRef p[] = {cm->i64, cm->ptr, cm->i64, cm->ptr, cm->ptr, cm->ptr, cm->ptr, cm->ptr, cm->ptr, cm->i64, cm->i64};
    return LLVMFunctionType(cm->void_t, p, 11, 0);
}

/* C[0..mr, 0..min(nr, NR)) = dequantized sums over `groups` groups of 4 rows of
 * K: row i of A at Aq + i*a_rs (bytes), the panel's groups at Bp (NR*4 bytes
 * each), its scales and column sums at ws and colsum, the rows' scales and
 * zero points at As and Az. */
static LLVMValueRef emit_kernel(CgModule *cm, const Shape *s, const char *name, int mr) {
    LLVMValueRef fn = new_function(cm, name, kernel_type(cm), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef groups = LLVMGetParam(fn, 0), Aq = LLVMGetParam(fn, 1), a_rs = LLVMGetParam(fn, 2),
                 As = LLVMGetParam(fn, 3), Az = LLVMGetParam(fn, 4), Bp = LLVMGetParam(fn, 5),
                 ws = LLVMGetParam(fn, 6), comp = LLVMGetParam(fn, 7), C = LLVMGetParam(fn, 8),
                 ldc = LLVMGetParam(fn, 9), nr = LLVMGetParam(fn, 10);
    const int L = s->tile.L, nv = s->tile.NV;
    LLVMTypeRef it = LLVMVectorType(cm->i32, (unsigned)L), ft = LLVMVectorType(cm->f32, (unsigned)L);
    /* u accumulator sets over alternate groups: at least 8 independent
       vpdpbusd chains (latency 4-5 cycles) when the tile is small (a
       recurrent step's single row) */
    const int u = mr * nv >= 8 ? 1 : (8 + mr * nv - 1) / (mr * nv) > MAX_U ? MAX_U : (8 + mr * nv - 1) / (mr * nv);
    LLVMValueRef acc[MAX_U][MAX_MR][MAX_NV], arow[MAX_MR];
    for (int i = 0; i < mr; i++) {
        arow[i] = gep(f, cm->i8, Aq, mul(f, k64(f, i), a_rs));
        for (int k = 0; k < u; k++)
            for (int v = 0; v < nv; v++)
                acc[k][i][v] = var(f, it, LLVMConstNull(it));
    }
    /* group g into accumulator set k */
#define STEP(g, k)                                                                                                     \
    do {                                                                                                               \
        LLVMValueRef brow = gep(f, cm->i8, Bp, mul(f, (g), k64(f, (int64_t)s->tile.NR * 4)));                             \
        LLVMValueRef bv[MAX_NV];                                                                                       \
        for (int v = 0; v < nv; v++)                                                                                   \
            bv[v] = load_aligned(f, it, gep(f, cm->i8, brow, k64(f, (int64_t)v * L * 4)), 4);                          \
        for (int i = 0; i < mr; i++) {                                                                                 \
            LLVMValueRef a4 = load_aligned(f, cm->i32, gep(f, cm->i8, arow[i], mul(f, (g), k64(f, 4))), 1);            \
            LLVMValueRef a = splat(f, a4, L);                                                                          \
            for (int v = 0; v < nv; v++)                                                                               \
                LLVMBuildStore(f->b, dot4(f, s, LLVMBuildLoad2(f->b, it, acc[k][i][v], ""), a, bv[v]), acc[k][i][v]); \
        }                                                                                                              \
    } while (0)
    LLVMValueRef gmain = u > 1 ? sub(f, groups, LLVMBuildSRem(f->b, groups, k64(f, u), "")) : groups;
    Loop lg;
    LLVMValueRef g = loop_begin(f, &lg, k64(f, 0), gmain, k64(f, u));
    for (int k = 0; k < u; k++)
        STEP(add(f, g, k64(f, k)), k);
    loop_end(f, &lg);
    if (u > 1) {
        Loop lr;
        g = loop_begin(f, &lr, gmain, groups, k64(f, 1));
        STEP(g, 0);
        loop_end(f, &lr);
        for (int i = 0; i < mr; i++)
            for (int v = 0; v < nv; v++) {
                LLVMValueRef sum = LLVMBuildLoad2(f->b, it, acc[0][i][v], "");
                for (int k = 1; k < u; k++)
                    sum = LLVMBuildAdd(f->b, sum, LLVMBuildLoad2(f->b, it, acc[k][i][v], ""), "");
                LLVMBuildStore(f->b, sum, acc[0][i][v]);
            }
    }
#undef STEP

    /* dequantize and store: full width or masked columns */
    LLVMValueRef wsv[MAX_NV], cv[MAX_NV], cmask[MAX_NV];
    for (int v = 0; v < nv; v++) {
        wsv[v] = load_aligned(f, ft, gep(f, cm->f32, ws, k64(f, (int64_t)v * L)), 4);
        cv[v] = load_aligned(f, it, gep(f, cm->i32, comp, k64(f, (int64_t)v * L)), 4);
        cmask[v] = lane_mask(f, sub(f, nr, k64(f, (int64_t)v * L)), L);
    }
    If full;
    if_begin(f, &full, cmp(f, LLVMIntSGE, nr, k64(f, s->tile.NR)));
    for (int masked = 0; masked < 2; masked++) {
        if (masked)
            if_else(f, &full);
        for (int i = 0; i < mr; i++) {
            LLVMValueRef crow = gep(f, cm->f32, C, mul(f, k64(f, i), ldc));
            LLVMValueRef as = splat(f, load_aligned(f, cm->f32, gep(f, cm->f32, As, k64(f, i)), 4), L);
            LLVMValueRef az = splat(f, load_aligned(f, cm->i32, gep(f, cm->i32, Az, k64(f, i)), 4), L);
            for (int v = 0; v < nv; v++) {
                LLVMValueRef sum = LLVMBuildSub(f->b, LLVMBuildLoad2(f->b, it, acc[0][i][v], ""),
                                                LLVMBuildMul(f->b, az, cv[v], ""), "");
                LLVMValueRef x = LLVMBuildFMul(f->b, LLVMBuildSIToFP(f->b, sum, ft, ""),
                                               LLVMBuildFMul(f->b, as, wsv[v], ""), "");
                LLVMValueRef cp = gep(f, cm->f32, crow, k64(f, (int64_t)v * L));
                if (masked)
                    masked_store(f, x, cp, cmask[v], 4);
                else
                    store_aligned(f, x, cp, 4);
            }
        }
    }
    if_end(f, &full);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}

/* ---- the product's tasks ------------------------------------------------ */

/* Task t of the tm x tn grid: rows [m0, m1) in MR-row tiles (quantized
 * first, quantize_tiles), panels [j0, j1) (whole groups of gp) in blocks of
 * Q_NCP; after the kernels of one row tile along a block, the epilogue takes
 * that strip. */
static LLVMValueRef emit_task(CgModule *cm, const Shape *s, LLVMValueRef kernels, LLVMValueRef quantize) {
    LLVMValueRef fn = new_function(cm, "attn_gemm_i8_task", task_type(cm), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef ctx = LLVMGetParam(fn, 0), t = LLVMGetParam(fn, 1);
    LLVMValueRef Bq = ctx_get(f, ctx, Q_B), C = ctx_get(f, ctx, Q_C), Aq = ctx_get(f, ctx, Q_AQ),
                 As = ctx_get(f, ctx, Q_AS), Az = ctx_get(f, ctx, Q_AZ), epi = ctx_get(f, ctx, Q_EPI),
                 epi_arg = ctx_get(f, ctx, Q_EPI_ARG);
    LLVMValueRef M = ctx_get(f, ctx, Q_M), N = ctx_get(f, ctx, Q_N), Kq = ctx_get(f, ctx, Q_KQ),
                 ldc = ctx_get(f, ctx, Q_LDC);
    LLVMValueRef tm = ctx_get(f, ctx, Q_TM), tn = ctx_get(f, ctx, Q_TN), mp = ctx_get(f, ctx, Q_MP),
                 np = ctx_get(f, ctx, Q_NP), gp = ctx_get(f, ctx, Q_GP), ncp = ctx_get(f, ctx, Q_NCP);
    LLVMValueRef MRv = k64(f, s->tile.MR), NRv = k64(f, s->tile.NR);
    LLVMValueRef m0, m1, j0, j1;
    task_rows(f, sdiv(f, t, tn), tm, mp, M, s->tile.MR, &m0, &m1);
    task_panels(f, LLVMBuildSRem(f->b, t, tn, ""), tn, np, gp, &j0, &j1);
    quantize_tiles(f, s, ctx, quantize, sdiv(f, m0, MRv), cdiv(f, m1, MRv));
    /* the scales and corrections follow the panels (pack_i8.h) */
    LLVMValueRef cols = mul(f, np, NRv);
    LLVMValueRef wscale = gep(f, cm->i8, Bq, mul(f, cols, Kq));
    LLVMValueRef wcomp = gep(f, cm->f32, wscale, cols);
    LLVMValueRef groups = sdiv(f, Kq, k64(f, 4));
    LLVMValueRef panel_bytes = mul(f, Kq, NRv);
    LLVMTypeRef kt = kernel_type(cm);
    Loop ljc, lic, ljp;
    LLVMValueRef jc = loop_begin(f, &ljc, j0, j1, ncp);
    LLVMValueRef jce = smin(f, add(f, jc, ncp), j1);
    LLVMValueRef ic = loop_begin(f, &lic, m0, m1, MRv);
    LLVMValueRef mr = smin(f, MRv, sub(f, m1, ic));
    LLVMValueRef arow = gep(f, cm->i8, Aq, mul(f, ic, Kq)), srow = gep(f, cm->f32, As, ic),
                 zrow = gep(f, cm->i32, Az, ic);
    LLVMValueRef crow = gep(f, cm->f32, C, mul(f, ic, ldc));
    LLVMValueRef kfn = LLVMBuildLoad2(f->b, cm->ptr, gep(f, cm->ptr, kernels, sub(f, mr, k64(f, 1))), "");
    LLVMValueRef jp = loop_begin(f, &ljp, jc, jce, k64(f, 1));
    LLVMValueRef col = mul(f, jp, NRv);
    LLVMValueRef args[] = {groups,
                           arow,
                           Kq,
                           srow,
                           zrow,
                           gep(f, cm->i8, Bq, mul(f, jp, panel_bytes)),
                           gep(f, cm->f32, wscale, col),
                           gep(f, cm->i32, wcomp, col),
                           gep(f, cm->f32, crow, col),
                           ldc,
                           smin(f, NRv, sub(f, N, col))};
    LLVMBuildCall2(f->b, kt, kfn, args, 11, "");
    loop_end(f, &ljp);
    call_epi(f, NULL, epi, epi_arg, ic, add(f, ic, mr), mul(f, jc, NRv), smin(f, mul(f, jce, NRv), N));
    loop_end(f, &lic);
    loop_end(f, &ljc);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}

/* ---- the driver --------------------------------------------------------- */

/* The product with each weight dequantized as it is read and fp32 activations:
 * the path when no buffer for the quantized rows can be had. */
static void plain_product(Fn *f, const Shape *s, LLVMValueRef M, LLVMValueRef N, LLVMValueRef K, LLVMValueRef A,
                          LLVMValueRef a_rs, LLVMValueRef a_cs, LLVMValueRef Bq, LLVMValueRef C, LLVMValueRef ldc) {
    CgModule *cm = f->cm;
    LLVMValueRef NRv = k64(f, s->tile.NR), Kq = mul(f, cdiv(f, K, k64(f, 4)), k64(f, 4));
    LLVMValueRef cols = mul(f, cdiv(f, N, NRv), NRv);
    LLVMValueRef wscale = gep(f, cm->i8, Bq, mul(f, cols, Kq));
    Loop li, lj, lp;
    LLVMValueRef i = loop_begin(f, &li, k64(f, 0), M, k64(f, 1));
    LLVMValueRef j = loop_begin(f, &lj, k64(f, 0), N, k64(f, 1));
    LLVMValueRef col = add(f, mul(f, mul(f, sdiv(f, j, NRv), sdiv(f, Kq, k64(f, 4))), mul(f, NRv, k64(f, 4))),
                           mul(f, LLVMBuildSRem(f->b, j, NRv, ""), k64(f, 4)));
    LLVMValueRef sum = var(f, cm->f32, cg_f32(cm, 0.0, 1));
    LLVMValueRef p = loop_begin(f, &lp, k64(f, 0), K, k64(f, 1));
    LLVMValueRef at = add(f, col, add(f, mul(f, sdiv(f, p, k64(f, 4)), mul(f, NRv, k64(f, 4))),
                                      LLVMBuildSRem(f->b, p, k64(f, 4), "")));
    LLVMValueRef q = LLVMBuildSIToFP(f->b, load_aligned(f, cm->i8, gep(f, cm->i8, Bq, at), 1), cm->f32, "");
    LLVMValueRef a = load_aligned(f, cm->f32, gep(f, cm->f32, A, add(f, mul(f, i, a_rs), mul(f, p, a_cs))), 4);
    LLVMBuildStore(f->b, LLVMBuildFAdd(f->b, LLVMBuildLoad2(f->b, cm->f32, sum, ""), LLVMBuildFMul(f->b, a, q, ""), ""),
                   sum);
    loop_end(f, &lp);
    LLVMValueRef w = load_aligned(f, cm->f32, gep(f, cm->f32, wscale, j), 4);
    store_aligned(f, LLVMBuildFMul(f->b, LLVMBuildLoad2(f->b, cm->f32, sum, ""), w, ""),
            gep(f, cm->f32, C, add(f, mul(f, i, ldc), j)), 4);
    loop_end(f, &lj);
    loop_end(f, &li);
}

/* Sets Q_TM, Q_TN, Q_MP, Q_NP, Q_NCP; returns the number of tasks, when the
 * work is worth threads: up to 4 per thread over column groups first (a
 * column task reads its panels of B once), then row panels. Tasks are claimed one at a time, so a grid ends with its busiest
 * thread: ceil(tasks / T) tasks of the largest size. With at least 4T
 * groups, 3T, 2T or T column tasks replace the 4T when that leaves the
 * busiest thread less work: 12 panels on 2 threads in 8 tasks of 1 or 2
 * panels can end 7 to 5; in 6 tasks of 2 they end 6 to 6. */
static LLVMValueRef grid(Fn *f, const Shape *s, LLVMValueRef ctx, LLVMValueRef T, LLVMValueRef M, LLVMValueRef N,
                         LLVMValueRef Kq, LLVMValueRef gp) {
    LLVMValueRef np = cdiv(f, N, k64(f, s->tile.NR)), mp = cdiv(f, M, k64(f, s->tile.MR));
    LLVMValueRef groups = cdiv(f, np, gp);
    LLVMValueRef par = LLVMBuildAnd(f->b, cmp(f, LLVMIntSGT, T, k64(f, 1)),
                                    cmp(f, LLVMIntSGE, mul(f, mul(f, M, N), Kq), mul(f, T, k64(f, 1 << 18))), "");
    LLVMValueRef want = LLVMBuildSelect(f->b, par, mul(f, T, k64(f, 4)), k64(f, 1), "");
    LLVMValueRef tn = smin(f, groups, want);
    LLVMValueRef tm = smin(f, mp, cdiv(f, want, tn));
    /* the busiest thread's groups of column panels, with one row task */
    LLVMValueRef columns_only = LLVMBuildAnd(f->b, par, cmp(f, LLVMIntSGE, groups, want), "");
    LLVMValueRef busiest = mul(f, k64(f, 4), cdiv(f, groups, tn));
    for (int c = 3; c >= 1; c--) {
        LLVMValueRef tn_c = mul(f, T, k64(f, c));
        LLVMValueRef busiest_c = mul(f, k64(f, c), cdiv(f, groups, tn_c));
        LLVMValueRef better = LLVMBuildAnd(f->b, columns_only, cmp(f, LLVMIntSLT, busiest_c, busiest), "");
        tn = LLVMBuildSelect(f->b, better, tn_c, tn, "");
        busiest = LLVMBuildSelect(f->b, better, busiest_c, busiest, "");
    }
    /* blocks of whole groups whose bytes stay in L2, at most NCP_MAX panels
       unless one group is more */
    LLVMValueRef ncp = sdiv(f, k64(f, L2_BLOCK), mul(f, Kq, k64(f, s->tile.NR)));
    ncp = at_least(f, smin(f, ncp, k64(f, NCP_MAX)), 1);
    ncp = mul(f, cdiv(f, ncp, gp), gp);
    ctx_set(f, ctx, Q_TM, tm);
    ctx_set(f, ctx, Q_TN, tn);
    ctx_set(f, ctx, Q_MP, mp);
    ctx_set(f, ctx, Q_NP, np);
    ctx_set(f, ctx, Q_NCP, ncp);
    return mul(f, tm, tn);
}

static LLVMTypeRef gemm_i8_type(CgModule *cm) {
    LLVMTypeRef p[] = {cm->i64, cm->i64, cm->i64, cm->ptr, cm->i64, cm->i64, cm->ptr,
                       cm->ptr, cm->i64, cm->ptr, cm->ptr, cm->ptr, cm->i64};
    return LLVMFunctionType(cm->void_t, p, 13, 0);
}

LLVMValueRef cg_gemm_i8(CgModule *cm) {
    LLVMValueRef fn = LLVMGetNamedFunction(cm->mod, "attn_gemm_i8");
    if (fn && LLVMCountBasicBlocks(fn) > 0)
        return fn;
    Shape s = shape_for(cm->target);
    LLVMValueRef kernels[MAX_MR];
    char name[64];
    for (int m = 1; m <= s.tile.MR; m++) {
        snprintf(name, sizeof name, "attn_gemm_i8_kernel_%d", m);
        kernels[m - 1] = emit_kernel(cm, &s, name, m);
    }
    LLVMTypeRef tab_t = LLVMArrayType2(cm->ptr, (uint64_t)s.tile.MR);
    LLVMValueRef tab = LLVMAddGlobal(cm->mod, tab_t, "attn_gemm_i8_kernels");
    LLVMSetInitializer(tab, LLVMConstArray2(cm->ptr, kernels, (uint64_t)s.tile.MR));
    LLVMSetGlobalConstant(tab, 1);
    LLVMSetLinkage(tab, LLVMInternalLinkage);
    LLVMValueRef task = emit_task(cm, &s, tab, emit_quantize_rows(cm, &s));
    if (!fn)
        fn = new_function(cm, "attn_gemm_i8", gemm_i8_type(cm), false);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef M = LLVMGetParam(fn, 0), N = LLVMGetParam(fn, 1), K = LLVMGetParam(fn, 2), A = LLVMGetParam(fn, 3),
                 a_rs = LLVMGetParam(fn, 4), a_cs = LLVMGetParam(fn, 5), Bq = LLVMGetParam(fn, 6),
                 C = LLVMGetParam(fn, 7), ldc = LLVMGetParam(fn, 8), pool = LLVMGetParam(fn, 9),
                 epi = LLVMGetParam(fn, 10), epi_arg = LLVMGetParam(fn, 11), epi_panels = LLVMGetParam(fn, 12);
    gemm_trivial_cases(f, M, N, K, C, ldc, epi, epi_arg);
    If nomem;

    LLVMValueRef Kq = mul(f, cdiv(f, K, k64(f, 4)), k64(f, 4));
    /* the tiles' flags, the rows' scales, their zero points (each rounded up
       to 64 bytes), then the rows */
    LLVMValueRef flag_bytes = mul(f, cdiv(f, M, k64(f, s.tile.MR)), k64(f, FLAG_STRIDE * 4));
    LLVMValueRef row_bytes = mul(f, cdiv(f, M, k64(f, 16)), k64(f, 64));
    LLVMValueRef bytes = add(f, add(f, flag_bytes, mul(f, row_bytes, k64(f, 2))), mul(f, M, Kq));
    LLVMValueRef buf = call(f, runtime_fn(cm, "attn_rt_aligned_alloc"), &bytes, 1);
    if_begin(f, &nomem, LLVMBuildIsNull(f->b, buf, ""));
    plain_product(f, &s, M, N, K, A, a_rs, a_cs, Bq, C, ldc);
    call_epi(f, NULL, epi, epi_arg, k64(f, 0), M, k64(f, 0), N);
    if_else(f, &nomem);
    {
        LLVMBuildMemSet(f->b, buf, LLVMConstInt(cm->i8, 0, 0), flag_bytes, 64); /* every tile TILE_FREE */
        LLVMValueRef scales = gep(f, cm->i8, buf, flag_bytes), zps = gep(f, cm->i8, scales, row_bytes);
        LLVMValueRef ctx = var(f, task_ctx_type(cm, TASK), NULL);
        const int fields[] = {Q_A, Q_B, Q_C, Q_AQ, Q_AS, Q_AZ, Q_FLAGS, Q_EPI, Q_EPI_ARG,
                              Q_M, Q_N, Q_K, Q_ARS, Q_ACS, Q_LDC, Q_KQ};
        LLVMValueRef vals[] = {A, Bq, C, gep(f, cm->i8, zps, row_bytes), scales, zps, buf, epi, epi_arg,
                               M, N, K, a_rs, a_cs, ldc, Kq};
        for (int q = 0; q < 16; q++)
            ctx_set(f, ctx, fields[q], vals[q]);
        LLVMValueRef gp = at_least(f, epi_panels, 1);
        ctx_set(f, ctx, Q_GP, gp);
        LLVMValueRef T = pool_threads(f, pool);
        run_tasks(f, pool, grid(f, &s, ctx, T, M, N, Kq, gp), task, ctx);
        call(f, runtime_fn(cm, "attn_rt_aligned_free"), &buf, 1);
    }
    if_end(f, &nomem);
    LLVMBuildRetVoid(f->b);
    fn_end(f);
    return fn;
}
