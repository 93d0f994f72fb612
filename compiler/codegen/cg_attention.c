/*
 * cg_attention.c — the generated attention core (see cg_attention.h).
 *
 * Shape of the code, for a target with L floats per vector:
 *
 *  - a task owns Br = NV*L queries of one batch index at a time, with vectors
 *    running along the queries: the scores of one key are NV vectors, so the
 *    per-query softmax statistics (running max m, running sum l, rescale
 *    factor alpha) are NV vectors and need no horizontal reductions. A block
 *    of fewer queries (the last one of a batch index) runs code made for
 *    nv = ceil(rows / L) vectors, so that it costs what it holds (128
 *    queries, 16 lanes: blocks of 48, 48 and 32 queries, not three of 48).
 *  - Q^T is packed once per query block by L x L tiles transposed in
 *    registers (the lanes of queries past the block repeat its last query:
 *    all arithmetic is lane by lane, and those lanes are never stored).
 *  - per block of Bc keys:
 *      S^T (Bc x Br) = K_blk (Bc x D) * Q^T (D x Br)   scaled, masked; block max
 *      P^T = exp(S^T - m_new), l = alpha*l + sum P      in place
 *      O^T (Dv x Br) = alpha*O^T + V_blk^T (Dv x Bc) * P^T (Bc x Br)
 *    Both products use one register-tiled kernel shape: an MR x nv tile of
 *    vectors, MR broadcasts of the left operand (rows of K, read in place;
 *    columns of V, read in place) and nv loads of the right one (Q^T; P^T)
 *    per step. Edge tiles have their own kernels (one per row count), called
 *    through a switch.
 *  - at the end O = O^T * (1/l): L x L tiles scaled, transposed in registers
 *    and stored by rows.
 *
 * Masked scores are -inf. The running max stays -inf while every key of a
 * query so far is masked; exponents are then taken against 0 instead, so
 * that such a query's P and l stay 0 rather than NaN and later keys count in
 * full; a query whose keys are all masked ends with 0 * (1/0) = NaN, as
 * the unfused softmax gives.
 *
 * Workspace per running task: Br * (D + Bc + Dv + 4) floats (Q^T, S^T, O^T,
 * and m, l, alpha, block max), one block per thread from one heap block per
 * call (a stack buffer when that allocation fails), claimed through a busy
 * flag. Threads: one task per (batch index, query block) pair, the full
 * blocks first and the short last ones of the batch indices at the end.
 */
#include "cg_attention.h"
#include "cg_build.h"
#include "cg_vmath.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(void *) == 8 && sizeof(AttnAttentionArgs) == AF_COUNT * 8, "descriptor is 8-byte fields");
_Static_assert(offsetof(AttnAttentionArgs, q) == AF_Q * 8 && offsetof(AttnAttentionArgs, k) == AF_K * 8 &&
                   offsetof(AttnAttentionArgs, v) == AF_V * 8 && offsetof(AttnAttentionArgs, o) == AF_O * 8 &&
                   offsetof(AttnAttentionArgs, scale) == AF_SCALE * 8 &&
                   offsetof(AttnAttentionArgs, mask) == AF_MASK * 8 && offsetof(AttnAttentionArgs, mc) == AF_MC * 8,
               "field numbers match the struct");

enum { MAX_MR = 12, MAX_NV = 4 };

/* Tile sizes for one lane count. */
typedef struct Tiles {
    int L;  /* floats per vector */
    int NV; /* vectors of queries per tile: Br = NV * L queries per task step */
    int Br;
    int MR; /* rows (keys, or value channels) per register tile */
    int Bc; /* keys per block */
} Tiles;

static Tiles tiles_for(const CgTarget *t) {
    Tiles s;
    s.L = cg_target_lanes(t);
    /* accumulators take 24 of 32 vector registers with AVX-512, 12 of 16 otherwise */
    s.NV = s.L >= 16 ? 3 : 2;
    s.MR = s.L >= 16 ? 8 : 6;
    s.Br = s.NV * s.L;
    s.Bc = 128;
    return s;
}

/* ---- functions (the structured-IR builder is cg_build.h) --------------- */

/* An internal kernel, kept out of line: inlined at their single call sites, the sixteen kernels made one
   function that took seconds to compile. */
static LLVMValueRef new_kernel(CgModule *cm, const char *name, LLVMTypeRef type) {
    LLVMValueRef fn = new_function(cm, name, type, true);
    add_attribute(cm, fn, "noinline");
    return fn;
}

static void fn_end(Fn *f) {
    LLVMBuildRetVoid(f->b);
    LLVMDisposeBuilder(f->b);
}

/* p + idx elements of type t; not inbounds: the mask pointer may be NULL plus an offset that is never read */
static LLVMValueRef gep(Fn *f, LLVMTypeRef t, LLVMValueRef p, LLVMValueRef idx) {
    return LLVMBuildGEP2(f->b, t, p, &idx, 1, "");
}
static LLVMValueRef gepf(Fn *f, LLVMValueRef p, LLVMValueRef idx) { return gep(f, f->cm->f32, p, idx); }
static LLVMValueRef load(Fn *f, LLVMTypeRef t, LLVMValueRef p) {
    LLVMValueRef v = LLVMBuildLoad2(f->b, t, p, "");
    LLVMSetAlignment(v, 4);
    return v;
}
static void store(Fn *f, LLVMValueRef v, LLVMValueRef p) { LLVMSetAlignment(LLVMBuildStore(f->b, v, p), 4); }

static LLVMValueRef splat(Fn *f, LLVMValueRef x, int lanes) {
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(x), (unsigned)lanes);
    LLVMValueRef v = LLVMBuildInsertElement(f->b, LLVMGetPoison(vt), x, LLVMConstInt(f->cm->i32, 0, 0), "");
    LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(f->cm->i32, (unsigned)lanes));
    return LLVMBuildShuffleVector(f->b, v, LLVMGetPoison(vt), zeros, "");
}

static LLVMValueRef fma_v(Fn *f, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
    LLVMValueRef args[] = {a, b, c};
    return cg_intrinsic(f->cm, f->b, "llvm.fma", LLVMTypeOf(c), args, 3);
}

/* a > b ? a : b — one vmaxps. Which operand a NaN yields does not matter: a NaN score makes its
   query's P, l and output NaN whichever way the max goes. */
static LLVMValueRef fmax_v(Fn *f, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(f->b, LLVMBuildFCmp(f->b, LLVMRealOGT, a, b, ""), a, b, "");
}

static LLVMValueRef vec_load(Fn *f, const Tiles *s, LLVMValueRef p) {
    return load(f, LLVMVectorType(f->cm->f32, (unsigned)s->L), p);
}

/* ---- register-tiled kernels ------------------------------------------ */

/* The rows of an MR-row tile of which only `live` (1 .. MR) exist: row r is min(r, live - 1). The
 * rows past the live ones repeat the last one: they compute and store what it does, so that one kernel
 * serves every tile height (edge kernels per height tripled the core's compile time). */
static void tile_rows(Fn *f, const Tiles *s, LLVMValueRef live, LLVMValueRef *row) {
    LLVMValueRef last = sub(f, live, k64(f, 1));
    for (int r = 0; r < s->MR; r++)
        row[r] = r == 0 ? k64(f, 0) : smin(f, k64(f, r), last);
}

/* acc[r][v] += sum_p A[row[r]*a_rs + p*a_cs] * B[p*Br + v*L .. +L) for r < MR, v < nv, p < kc. */
static void tile_product(Fn *f, const Tiles *s, int nv, LLVMValueRef acc[][MAX_NV], const LLVMValueRef *row,
                         LLVMValueRef kc, LLVMValueRef A, LLVMValueRef a_rs, LLVMValueRef a_cs, LLVMValueRef B) {
    CgModule *cm = f->cm;
    LLVMTypeRef vt = LLVMVectorType(cm->f32, (unsigned)s->L);
    int mr = s->MR;
    LLVMValueRef arow[MAX_MR];
    for (int r = 0; r < mr; r++)
        arow[r] = gepf(f, A, mul(f, row[r], a_rs));
    Loop lp;
    LLVMValueRef p = loop_begin(f, &lp, k64(f, 0), kc, k64(f, 1));
    LLVMValueRef brow = gepf(f, B, mul(f, p, k64(f, s->Br))), aoff = mul(f, p, a_cs);
    LLVMValueRef bv[MAX_NV];
    for (int v = 0; v < nv; v++)
        bv[v] = vec_load(f, s, gepf(f, brow, k64(f, (int64_t)v * s->L)));
    for (int r = 0; r < mr; r++) {
        LLVMValueRef a = splat(f, load(f, cm->f32, gepf(f, arow[r], aoff)), s->L);
        for (int v = 0; v < nv; v++)
            LLVMBuildStore(f->b, fma_v(f, a, bv[v], LLVMBuildLoad2(f->b, vt, acc[r][v], "")), acc[r][v]);
    }
    loop_end(f, &lp);
}

/* Lane l of vector v of a tile is query v*L + l. */
static LLVMValueRef query_index(Fn *f, const Tiles *s, int v) {
    LLVMValueRef idx[64];
    for (int l = 0; l < s->L; l++)
        idx[l] = LLVMConstInt(f->cm->i64, (unsigned long long)(v * s->L + l), 0);
    return LLVMConstVector(idx, (unsigned)s->L);
}

/* void qk(i64 D, ptr K, i64 k_rs, ptr QT, ptr ST, ptr bmax, float scale, i64 live)
 * Scores of `live` (1 .. MR) keys (rows of K from K) against the nv*L queries of QT (D rows of stride
 * Br), scaled, stored as rows of ST (stride Br) and max'ed into bmax (a repeated key repeats a score:
 * the max is the same). */
static LLVMValueRef emit_qk(CgModule *cm, const Tiles *s, int nv) {
    char name[64];
    snprintf(name, sizeof name, "attn_attention_qk_%d", nv);
    LLVMTypeRef i64 = cm->i64, p = cm->ptr;
    LLVMTypeRef pt[] = {i64, p, i64, p, p, p, cm->f32, i64};
    LLVMValueRef fn = new_kernel(cm, name, LLVMFunctionType(cm->void_t, pt, 8, 0));
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef D = LLVMGetParam(fn, 0), K = LLVMGetParam(fn, 1), k_rs = LLVMGetParam(fn, 2),
                 QT = LLVMGetParam(fn, 3), ST = LLVMGetParam(fn, 4), bmax = LLVMGetParam(fn, 5),
                 scale = LLVMGetParam(fn, 6), row[MAX_MR];
    tile_rows(f, s, LLVMGetParam(fn, 7), row);
    LLVMTypeRef vt = LLVMVectorType(cm->f32, (unsigned)s->L);
    LLVMValueRef acc[MAX_MR][MAX_NV];
    for (int r = 0; r < s->MR; r++)
        for (int v = 0; v < nv; v++)
            acc[r][v] = var(f, vt, LLVMConstNull(vt));
    tile_product(f, s, nv, acc, row, D, K, k_rs, k64(f, 1), QT);
    /* scaled as (q @ k.T) * scale is: after the dot product */
    LLVMValueRef sc = splat(f, scale, s->L), Br = k64(f, s->Br);
    for (int v = 0; v < nv; v++) {
        LLVMValueRef bp = gepf(f, bmax, k64(f, (int64_t)v * s->L)), mx = vec_load(f, s, bp);
        for (int r = 0; r < s->MR; r++) {
            LLVMValueRef x = LLVMBuildFMul(f->b, LLVMBuildLoad2(f->b, vt, acc[r][v], ""), sc, "");
            store(f, x, gepf(f, ST, add(f, mul(f, row[r], Br), k64(f, (int64_t)v * s->L))));
            mx = fmax_v(f, mx, x);
        }
        store(f, mx, bp);
    }
    fn_end(f);
    return fn;
}

/* The mask values of vector v of key j: M[q*m_rs + j*m_cs] for the vector's queries q, as <L x t>.
 * bcast: m_rs == 0, one scalar load; else a gather in which queries at or past `rows` read nothing. */
static LLVMValueRef mask_vector(Fn *f, const Tiles *s, LLVMTypeRef t, bool bcast, LLVMValueRef M, LLVMValueRef m_rs,
                                LLVMValueRef m_cs, LLVMValueRef rows, LLVMValueRef j, int v) {
    CgModule *cm = f->cm;
    LLVMValueRef row = gep(f, t, M, mul(f, j, m_cs));
    if (bcast)
        return splat(f, load(f, t, row), s->L);
    LLVMTypeRef vt = LLVMVectorType(t, (unsigned)s->L);
    LLVMValueRef q = query_index(f, s, v);
    LLVMValueRef idx = LLVMBuildMul(f->b, q, splat(f, m_rs, s->L), "");
    LLVMValueRef ptrs = LLVMBuildGEP2(f->b, t, row, &idx, 1, "");
    LLVMValueRef live = LLVMBuildICmp(f->b, LLVMIntSLT, q, splat(f, rows, s->L), "");
    LLVMTypeRef types[] = {vt, LLVMVectorType(cm->ptr, (unsigned)s->L)};
    unsigned id = LLVMLookupIntrinsicID("llvm.masked.gather", 18);
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cm->mod, id, types, 2);
    LLVMValueRef args[] = {ptrs, LLVMConstInt(cm->i32, t == cm->f32 ? 4 : 1, 0), live, LLVMConstNull(vt)};
    return LLVMBuildCall2(f->b, LLVMIntrinsicGetType(cm->ctx, id, types, 2), fn, args, 4, "");
}

/* void mask(i64 bc, ptr ST, ptr bmax, i64 kind, ptr M, i64 m_rs, i64 m_cs, i64 rows)
 * Applies a mask of kind 1 or 2 to the bc rows of nv*L scores in ST (M at the block's first query and
 * key, m_rs per query, m_cs per key, in elements; rows = live queries) and recomputes their max, bmax. */
static LLVMValueRef emit_mask(CgModule *cm, const Tiles *s, int nv) {
    char name[64];
    snprintf(name, sizeof name, "attn_attention_mask_%d", nv);
    LLVMTypeRef i64 = cm->i64, p = cm->ptr;
    LLVMTypeRef pt[] = {i64, p, p, i64, p, i64, i64, i64};
    LLVMValueRef fn = new_kernel(cm, name, LLVMFunctionType(cm->void_t, pt, 8, 0));
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef bc = LLVMGetParam(fn, 0), ST = LLVMGetParam(fn, 1), bmax = LLVMGetParam(fn, 2),
                 kind = LLVMGetParam(fn, 3), M = LLVMGetParam(fn, 4), m_rs = LLVMGetParam(fn, 5),
                 m_cs = LLVMGetParam(fn, 6), rows = LLVMGetParam(fn, 7);
    LLVMTypeRef vt = LLVMVectorType(cm->f32, (unsigned)s->L);
    LLVMValueRef ninf = cg_f32(cm, -INFINITY, s->L), mx[MAX_NV];
    for (int v = 0; v < nv; v++)
        mx[v] = var(f, vt, ninf);
    If is_bool, is_bcast = {0}; /* is_bcast is begun in variants 0 and 2, ended in 1 and 3 */
    if_begin(f, &is_bool, cmp(f, LLVMIntEQ, kind, k64(f, ATTN_MASK_BOOL)));
    for (int variant = 0; variant < 4; variant++) {
        bool boolean = variant < 2, bcast = variant % 2 == 0;
        if (variant == 2)
            if_else(f, &is_bool);
        if (bcast)
            if_begin(f, &is_bcast, cmp(f, LLVMIntEQ, m_rs, k64(f, 0)));
        else
            if_else(f, &is_bcast);
        Loop lj;
        LLVMValueRef j = loop_begin(f, &lj, k64(f, 0), bc, k64(f, 1));
        for (int v = 0; v < nv; v++) {
            LLVMValueRef sp = gepf(f, ST, add(f, mul(f, j, k64(f, s->Br)), k64(f, (int64_t)v * s->L)));
            LLVMValueRef x = vec_load(f, s, sp);
            LLVMValueRef m = mask_vector(f, s, boolean ? cm->i8 : cm->f32, bcast, M, m_rs, m_cs, rows, j, v);
            if (boolean)
                x = LLVMBuildSelect(f->b, LLVMBuildICmp(f->b, LLVMIntNE, m, LLVMConstNull(LLVMTypeOf(m)), ""), ninf, x,
                                    "");
            else
                x = LLVMBuildFAdd(f->b, x, m, "");
            store(f, x, sp);
            LLVMBuildStore(f->b, fmax_v(f, LLVMBuildLoad2(f->b, vt, mx[v], ""), x), mx[v]);
        }
        loop_end(f, &lj);
        if (!bcast)
            if_end(f, &is_bcast);
    }
    if_end(f, &is_bool);
    for (int v = 0; v < nv; v++)
        store(f, LLVMBuildLoad2(f->b, vt, mx[v], ""), gepf(f, bmax, k64(f, (int64_t)v * s->L)));
    fn_end(f);
    return fn;
}

/* void pv(i64 bc, ptr V, i64 v_rs, ptr PT, ptr OT, ptr alpha, i64 live)
 * `live` (1 .. MR) rows (value channels) of O^T, nv*L queries each:
 * OT[c] = alpha * OT[c] + sum_j V[j*v_rs + c] * PT[j], j < bc. */
static LLVMValueRef emit_pv(CgModule *cm, const Tiles *s, int nv) {
    char name[64];
    snprintf(name, sizeof name, "attn_attention_pv_%d", nv);
    LLVMTypeRef pt[] = {cm->i64, cm->ptr, cm->i64, cm->ptr, cm->ptr, cm->ptr, cm->i64};
    LLVMValueRef fn = new_kernel(cm, name, LLVMFunctionType(cm->void_t, pt, 7, 0));
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef bc = LLVMGetParam(fn, 0), V = LLVMGetParam(fn, 1), v_rs = LLVMGetParam(fn, 2),
                 PT = LLVMGetParam(fn, 3), OT = LLVMGetParam(fn, 4), alpha = LLVMGetParam(fn, 5), row[MAX_MR];
    tile_rows(f, s, LLVMGetParam(fn, 6), row);
    LLVMTypeRef vt = LLVMVectorType(cm->f32, (unsigned)s->L);
    LLVMValueRef acc[MAX_MR][MAX_NV], orow[MAX_MR];
    for (int r = 0; r < s->MR; r++)
        orow[r] = gepf(f, OT, mul(f, row[r], k64(f, s->Br)));
    for (int v = 0; v < nv; v++) {
        LLVMValueRef al = vec_load(f, s, gepf(f, alpha, k64(f, (int64_t)v * s->L)));
        for (int r = 0; r < s->MR; r++) {
            LLVMValueRef o = vec_load(f, s, gepf(f, orow[r], k64(f, (int64_t)v * s->L)));
            acc[r][v] = var(f, vt, LLVMBuildFMul(f->b, o, al, ""));
        }
    }
    tile_product(f, s, nv, acc, row, bc, V, k64(f, 1), v_rs, PT);
    for (int r = 0; r < s->MR; r++)
        for (int v = 0; v < nv; v++)
            store(f, LLVMBuildLoad2(f->b, vt, acc[r][v], ""), gepf(f, orow[r], k64(f, (int64_t)v * s->L)));
    fn_end(f);
    return fn;
}

/* ---- the task --------------------------------------------------------- */

/* The context the driver hands to its tasks. */
enum { T_ARGS, T_BUF, T_BUSY, T_W, T_NQB, T_NB, T_NSLOT, T_COUNT };

static const TaskCtx TASK = {T_BUSY + 1, T_COUNT};

static LLVMValueRef tctx_get(Fn *f, LLVMValueRef ctx, int field) { return task_ctx_get(f, TASK, ctx, field); }
static void tctx_set(Fn *f, LLVMValueRef ctx, int field, LLVMValueRef v) { task_ctx_set(f, TASK, ctx, field, v); }

/* Field n of the descriptor, as type t. */
static LLVMValueRef arg(Fn *f, LLVMValueRef args, int field, LLVMTypeRef t) {
    LLVMValueRef p = LLVMBuildInBoundsGEP2(f->b, f->cm->i64, args, (LLVMValueRef[]){k64(f, field)}, 1, "");
    return LLVMBuildLoad2(f->b, t, p, "");
}

/* The descriptor's fields that a query block needs, loaded once per task. */
typedef struct Desc {
    LLVMValueRef nb1, L, S, D, Dv, scale, kind;
    LLVMValueRef q, k, v, o, mask;
    LLVMValueRef q_s[3], k_s[3], v_s[3], o_s[3], m_s[4]; /* s0, s1, rs (mask: m0, m1, mr, mc) */
} Desc;

static Desc load_desc(Fn *f, LLVMValueRef args) {
    CgModule *cm = f->cm;
    Desc d;
    d.nb1 = arg(f, args, AF_NB1, cm->i64);
    d.L = arg(f, args, AF_L, cm->i64);
    d.S = arg(f, args, AF_S, cm->i64);
    d.D = arg(f, args, AF_D, cm->i64);
    d.Dv = arg(f, args, AF_DV, cm->i64);
    d.q = arg(f, args, AF_Q, cm->ptr);
    d.k = arg(f, args, AF_K, cm->ptr);
    d.v = arg(f, args, AF_V, cm->ptr);
    d.o = arg(f, args, AF_O, cm->ptr);
    for (int i = 0; i < 3; i++) {
        d.q_s[i] = arg(f, args, AF_Q_S0 + i, cm->i64);
        d.k_s[i] = arg(f, args, AF_K_S0 + i, cm->i64);
        d.v_s[i] = arg(f, args, AF_V_S0 + i, cm->i64);
        d.o_s[i] = arg(f, args, AF_O_S0 + i, cm->i64);
    }
    LLVMValueRef scale = arg(f, args, AF_SCALE, LLVMDoubleTypeInContext(cm->ctx));
    d.scale = LLVMBuildFPTrunc(f->b, scale, cm->f32, "");
    d.mask = arg(f, args, AF_MASK, cm->ptr);
    d.kind = LLVMBuildSelect(f->b, LLVMBuildIsNull(f->b, d.mask, ""), k64(f, ATTN_MASK_NONE),
                             arg(f, args, AF_MASK_KIND, cm->i64), "");
    for (int i = 0; i < 4; i++)
        d.m_s[i] = arg(f, args, AF_M0 + i, cm->i64);
    return d;
}

/* Base of batch index (b0, b1) plus `row` rows: p + b0*s[0] + b1*s[1] + row*s[2] elements of t. */
static LLVMValueRef at(Fn *f, LLVMTypeRef t, LLVMValueRef p, const LLVMValueRef *s, LLVMValueRef b0, LLVMValueRef b1,
                       LLVMValueRef row) {
    LLVMValueRef off = add(f, add(f, mul(f, b0, s[0]), mul(f, b1, s[1])), mul(f, row, s[2]));
    return gep(f, t, p, off);
}

/* Fills `n` floats at p with x. */
static void fill(Fn *f, LLVMValueRef p, LLVMValueRef n, LLVMValueRef x) {
    Loop l;
    LLVMValueRef i = loop_begin(f, &l, k64(f, 0), n, k64(f, 1));
    store(f, x, gepf(f, p, i));
    loop_end(f, &l);
}

/* loop_end for a scalar edge loop that LLVM must leave scalar (vectorized, it becomes gathers or scatters). */
static void loop_end_scalar(Fn *f, Loop *l) {
    LLVMBuildStore(f->b, LLVMBuildNSWAdd(f->b, l->i, l->step, ""), l->iv);
    cg_loop_keep_scalar(f->cm, LLVMBuildBr(f->b, l->head));
    LLVMPositionBuilderAtEnd(f->b, l->exit);
}

/* Transposes the L x L matrix whose rows are the vectors x[0 .. L) in place: log2(L) rounds of
 * two-vector shuffles, round h swapping bit h of the row index with bit h of the lane index. */
static void transpose(Fn *f, const Tiles *s, LLVMValueRef *x) {
    LLVMValueRef lo[64], hi[64];
    for (int h = 1; h < s->L; h *= 2) {
        for (int e = 0; e < s->L; e++) {
            lo[e] = LLVMConstInt(f->cm->i32, (unsigned long long)(e & h ? s->L + e - h : e), 0);
            hi[e] = LLVMConstInt(f->cm->i32, (unsigned long long)(e & h ? s->L + e : e + h), 0);
        }
        LLVMValueRef mlo = LLVMConstVector(lo, (unsigned)s->L), mhi = LLVMConstVector(hi, (unsigned)s->L);
        for (int r = 0; r < s->L; r++)
            if (!(r & h)) {
                LLVMValueRef a = x[r], b = x[r + h];
                x[r] = LLVMBuildShuffleVector(f->b, a, b, mlo, "");
                x[r + h] = LLVMBuildShuffleVector(f->b, a, b, mhi, "");
            }
    }
}

/* ---- the query block's transposing kernels ------------------------------ */

/* Q^T rows c0 .. c0+L-1 (dst, stride dst_rs) from L query rows of src (stride src_rs), dims c0 ..
 * c0+L-1, transposed in registers. partial: only `live` (1 .. L-1) rows exist; the others repeat the
 * last live one (lanes of queries past the block are computed lane by lane and never stored). */
static void pack_tile(Fn *f, const Tiles *s, LLVMValueRef src, LLVMValueRef src_rs, LLVMValueRef dst,
                      LLVMValueRef dst_rs, LLVMValueRef c0, LLVMValueRef live, bool partial) {
    LLVMValueRef x[64], last = sub(f, live, k64(f, 1));
    for (int r = 0; r < s->L; r++) {
        LLVMValueRef row = gepf(f, src, mul(f, partial ? smin(f, k64(f, r), last) : k64(f, r), src_rs));
        x[r] = vec_load(f, s, gepf(f, row, c0));
    }
    transpose(f, s, x);
    for (int e = 0; e < s->L; e++)
        store(f, x[e], gepf(f, dst, mul(f, add(f, c0, k64(f, e)), dst_rs)));
}

/* O rows 0 .. L-1 (dst, stride dst_rs), channels c0 .. c0+L-1, from O^T rows c0 .. c0+L-1 (src, stride
 * src_rs) scaled by inv (one factor per query), transposed in registers. partial: only `live` (1 ..
 * L-1) rows are stored. */
static void store_tile(Fn *f, const Tiles *s, LLVMValueRef src, LLVMValueRef src_rs, LLVMValueRef dst,
                       LLVMValueRef dst_rs, LLVMValueRef c0, LLVMValueRef inv, LLVMValueRef live, bool partial) {
    LLVMValueRef x[64];
    for (int r = 0; r < s->L; r++)
        x[r] = LLVMBuildFMul(f->b, vec_load(f, s, gepf(f, src, mul(f, add(f, c0, k64(f, r)), src_rs))), inv, "");
    transpose(f, s, x);
    for (int e = 0; e < s->L; e++) {
        If in;
        if (partial)
            if_begin(f, &in, cmp(f, LLVMIntSLT, k64(f, e), live));
        store(f, x[e], gepf(f, dst, add(f, mul(f, k64(f, e), dst_rs), c0)));
        if (partial)
            if_end(f, &in);
    }
}

/* Loop over the vectors v < nv of a block's queries, v*L .. v*L+L-1: returns how many of them are
 * live (rows - v*L, more than L for all but the last vector); *vL is v*L. */
static LLVMValueRef vectors_begin(Fn *f, const Tiles *s, Loop *l, LLVMValueRef nv, LLVMValueRef rows,
                                  LLVMValueRef *vL) {
    LLVMValueRef v = loop_begin(f, l, k64(f, 0), nv, k64(f, 1));
    *vL = mul(f, v, k64(f, s->L));
    return sub(f, rows, *vL);
}

/* void pack(ptr q, i64 q_rs, i64 D, i64 rows, i64 nv, ptr QT)
 * Q^T (D rows of stride Br) from the first nv*L query rows of q (stride q_rs), those at or past `rows`
 * repeating the last live one: L x L tiles transposed in registers, then the dims past the last whole
 * tile. */
static LLVMValueRef emit_pack(CgModule *cm, const Tiles *s) {
    LLVMTypeRef i64 = cm->i64, p = cm->ptr;
    LLVMTypeRef pt[] = {p, i64, i64, i64, i64, p};
    LLVMValueRef fn = new_kernel(cm, "attn_attention_pack", LLVMFunctionType(cm->void_t, pt, 6, 0));
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef q = LLVMGetParam(fn, 0), q_rs = LLVMGetParam(fn, 1), D = LLVMGetParam(fn, 2),
                 rows = LLVMGetParam(fn, 3), nv = LLVMGetParam(fn, 4), QT = LLVMGetParam(fn, 5);
    LLVMValueRef Lv = k64(f, s->L), Br = k64(f, s->Br), last = sub(f, rows, k64(f, 1));
    LLVMValueRef dmain = sub(f, D, LLVMBuildSRem(f->b, D, Lv, ""));
    Loop lp, lv, lt, li;
    LLVMValueRef p0 = loop_begin(f, &lp, k64(f, 0), dmain, Lv), vL;
    LLVMValueRef live = vectors_begin(f, s, &lv, nv, rows, &vL);
    LLVMValueRef src = gepf(f, q, mul(f, vL, q_rs)), dst = gepf(f, QT, vL);
    If part;
    if_begin(f, &part, cmp(f, LLVMIntSLT, live, Lv));
    pack_tile(f, s, src, q_rs, dst, Br, p0, live, true);
    if_else(f, &part);
    pack_tile(f, s, src, q_rs, dst, Br, p0, live, false);
    if_end(f, &part);
    loop_end(f, &lv);
    loop_end(f, &lp);
    LLVMValueRef d = loop_begin(f, &lt, dmain, D, k64(f, 1));
    LLVMValueRef i = loop_begin(f, &li, k64(f, 0), mul(f, nv, Lv), k64(f, 1));
    LLVMValueRef x = load(f, cm->f32, gepf(f, gepf(f, q, mul(f, smin(f, i, last), q_rs)), d));
    store(f, x, gepf(f, QT, add(f, mul(f, d, Br), i)));
    loop_end_scalar(f, &li);
    loop_end_scalar(f, &lt);
    fn_end(f);
    return fn;
}

/* void out(ptr OT, ptr l, i64 S, i64 Dv, i64 rows, i64 nv, ptr o, i64 o_rs)
 * O = O^T / l for a block's `rows` queries (o: its first row): 1/l per query (0 when there are no keys,
 * S <= 0, so that the empty sum gives zeros) into l, then L x L tiles of O^T (Dv rows of stride Br)
 * scaled, transposed in registers and stored by rows, then the channels past the last whole tile. */
static LLVMValueRef emit_out(CgModule *cm, const Tiles *s) {
    LLVMTypeRef i64 = cm->i64, p = cm->ptr;
    LLVMTypeRef pt[] = {p, p, i64, i64, i64, i64, p, i64};
    LLVMValueRef fn = new_kernel(cm, "attn_attention_out", LLVMFunctionType(cm->void_t, pt, 8, 0));
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef OT = LLVMGetParam(fn, 0), l = LLVMGetParam(fn, 1), S = LLVMGetParam(fn, 2), Dv = LLVMGetParam(fn, 3),
                 rows = LLVMGetParam(fn, 4), nv = LLVMGetParam(fn, 5), o = LLVMGetParam(fn, 6),
                 o_rs = LLVMGetParam(fn, 7);
    LLVMValueRef Lv = k64(f, s->L), Br = k64(f, s->Br), vL;
    LLVMValueRef nokeys = cmp(f, LLVMIntSLE, S, k64(f, 0));
    Loop lr, lc, lv, lt, li;
    vectors_begin(f, s, &lr, nv, rows, &vL);
    LLVMValueRef lp = gepf(f, l, vL);
    LLVMValueRef inv = LLVMBuildFDiv(f->b, cg_f32(cm, 1.0, s->L), vec_load(f, s, lp), "");
    store(f, LLVMBuildSelect(f->b, nokeys, LLVMConstNull(LLVMTypeOf(inv)), inv, ""), lp);
    loop_end(f, &lr);
    LLVMValueRef cmain = sub(f, Dv, LLVMBuildSRem(f->b, Dv, Lv, ""));
    LLVMValueRef c0 = loop_begin(f, &lc, k64(f, 0), cmain, Lv);
    LLVMValueRef live = vectors_begin(f, s, &lv, nv, rows, &vL);
    LLVMValueRef src = gepf(f, OT, vL), dst = gepf(f, o, mul(f, vL, o_rs));
    inv = vec_load(f, s, gepf(f, l, vL));
    If part;
    if_begin(f, &part, cmp(f, LLVMIntSLT, live, Lv));
    store_tile(f, s, src, Br, dst, o_rs, c0, inv, live, true);
    if_else(f, &part);
    store_tile(f, s, src, Br, dst, o_rs, c0, inv, live, false);
    if_end(f, &part);
    loop_end(f, &lv);
    loop_end(f, &lc);
    LLVMValueRef c = loop_begin(f, &lt, cmain, Dv, k64(f, 1));
    LLVMValueRef i = loop_begin(f, &li, k64(f, 0), rows, k64(f, 1));
    LLVMValueRef x = LLVMBuildFMul(f->b, load(f, cm->f32, gepf(f, OT, add(f, mul(f, c, Br), i))),
                                   load(f, cm->f32, gepf(f, l, i)), "");
    store(f, x, gepf(f, o, add(f, mul(f, i, o_rs), c)));
    loop_end_scalar(f, &li);
    loop_end_scalar(f, &lt);
    fn_end(f);
    return fn;
}

/* ---- the query block ----------------------------------------------------- */

/* Per key block: the online-softmax step on S^T (bc rows of nv*L): new max, alpha, P^T in place, l. */
static void softmax_step(Fn *f, const Tiles *s, LLVMValueRef nv, LLVMValueRef ST, LLVMValueRef bc, LLVMValueRef m,
                         LLVMValueRef l, LLVMValueRef alpha, LLVMValueRef bmax) {
    CgModule *cm = f->cm;
    LLVMTypeRef vt = LLVMVectorType(cm->f32, (unsigned)s->L);
    Loop lv;
    LLVMValueRef v = loop_begin(f, &lv, k64(f, 0), nv, k64(f, 1));
    LLVMValueRef off = mul(f, v, k64(f, s->L));
    LLVMValueRef m_old = vec_load(f, s, gepf(f, m, off));
    LLVMValueRef m_new = fmax_v(f, m_old, vec_load(f, s, gepf(f, bmax, off)));
    /* all keys so far masked: exponents against 0, so that P and l stay 0 (see the file comment) */
    LLVMValueRef none = LLVMBuildFCmp(f->b, LLVMRealOEQ, m_new, cg_f32(cm, -INFINITY, s->L), "");
    LLVMValueRef base = LLVMBuildSelect(f->b, none, LLVMConstNull(vt), m_new, "");
    LLVMValueRef al = cg_vexp(cm, f->b, LLVMBuildFSub(f->b, m_old, base, ""));
    store(f, m_new, gepf(f, m, off));
    store(f, al, gepf(f, alpha, off));
    LLVMValueRef sum = var(f, vt, LLVMConstNull(vt));
    Loop lj;
    LLVMValueRef j = loop_begin(f, &lj, k64(f, 0), bc, k64(f, 1));
    LLVMValueRef sp = gepf(f, ST, add(f, mul(f, j, k64(f, s->Br)), off));
    LLVMValueRef p = cg_vexp(cm, f->b, LLVMBuildFSub(f->b, vec_load(f, s, sp), base, ""));
    store(f, p, sp);
    LLVMBuildStore(f->b, LLVMBuildFAdd(f->b, LLVMBuildLoad2(f->b, vt, sum, ""), p, ""), sum);
    loop_end(f, &lj);
    LLVMValueRef lp = gepf(f, l, off);
    store(f, fma_v(f, vec_load(f, s, lp), al, LLVMBuildLoad2(f->b, vt, sum, "")), lp);
    loop_end(f, &lv);
}

typedef struct Kernels {
    LLVMValueRef qk[MAX_NV], pv[MAX_NV], mask[MAX_NV]; /* [nv - 1] */
    LLVMValueRef pack, out;
} Kernels;

/* Calls kernels[nv - 1](args), nv in 1 .. NV. */
static void call_nv(Fn *f, const Tiles *s, const LLVMValueRef *kernels, LLVMValueRef nv, LLVMValueRef *args,
                    int nargs) {
    LLVMBasicBlockRef done = block(f, "nv.done");
    LLVMValueRef sw = LLVMBuildSwitch(f->b, nv, done, (unsigned)s->NV);
    for (int n = 1; n <= s->NV; n++) {
        LLVMBasicBlockRef bb = block(f, "nv");
        LLVMAddCase(sw, k64(f, n), bb);
        LLVMPositionBuilderAtEnd(f->b, bb);
        call(f, kernels[n - 1], args, nargs);
        LLVMBuildBr(f->b, done);
    }
    LLVMPositionBuilderAtEnd(f->b, done);
}

/* One query block: queries [i0, i0 + rows) of batch index (b0, b1), rows <= Br, with the workspace at
 * buf. Its products run on nv = ceil(rows / L) vectors of queries, so that a short block costs what it
 * holds. */
static void query_block(Fn *f, const Tiles *s, const Kernels *kn, const Desc *d, LLVMValueRef buf, LLVMValueRef b0,
                        LLVMValueRef b1, LLVMValueRef i0, LLVMValueRef rows) {
    CgModule *cm = f->cm;
    LLVMValueRef Br = k64(f, s->Br), MRv = k64(f, s->MR), one = k64(f, 1), nv = cdiv(f, rows, k64(f, s->L));
    LLVMValueRef QT = buf, ST = gepf(f, QT, mul(f, d->D, Br));
    LLVMValueRef OT = gepf(f, ST, k64(f, (int64_t)s->Bc * s->Br));
    LLVMValueRef m = gepf(f, OT, mul(f, d->Dv, Br)), l = gepf(f, m, Br), alpha = gepf(f, l, Br),
                 bmax = gepf(f, alpha, Br);
    LLVMValueRef q = at(f, cm->f32, d->q, d->q_s, b0, b1, i0), k = at(f, cm->f32, d->k, d->k_s, b0, b1, k64(f, 0)),
                 v = at(f, cm->f32, d->v, d->v_s, b0, b1, k64(f, 0)), o = at(f, cm->f32, d->o, d->o_s, b0, b1, i0);
    /* the mask at (b0, b1, i0, 0), as bytes: its strides count bool bytes or floats */
    LLVMValueRef melem = LLVMBuildSelect(f->b, cmp(f, LLVMIntEQ, d->kind, k64(f, ATTN_MASK_ADD)), k64(f, 4), one, "");
    LLVMValueRef moff = add(f, add(f, mul(f, b0, d->m_s[0]), mul(f, b1, d->m_s[1])), mul(f, i0, d->m_s[2]));
    LLVMValueRef mk = gep(f, cm->i8, d->mask, mul(f, melem, moff));

    call(f, kn->pack, (LLVMValueRef[]){q, d->q_s[2], d->D, rows, nv, QT}, 6);
    fill(f, OT, mul(f, d->Dv, Br), cg_f32(cm, 0.0, 1));
    fill(f, m, Br, cg_f32(cm, -INFINITY, 1));
    fill(f, l, Br, cg_f32(cm, 0.0, 1));

    Loop lj, lt, lc;
    LLVMValueRef j0 = loop_begin(f, &lj, k64(f, 0), d->S, k64(f, s->Bc));
    LLVMValueRef bc = smin(f, k64(f, s->Bc), sub(f, d->S, j0));
    fill(f, bmax, Br, cg_f32(cm, -INFINITY, 1));
    /* scores: tiles of MR keys, the last one of what is left */
    LLVMValueRef jj = loop_begin(f, &lt, k64(f, 0), bc, MRv);
    LLVMValueRef qa[] = {d->D, gepf(f, k, mul(f, add(f, j0, jj), d->k_s[2])), d->k_s[2], QT,
                         gepf(f, ST, mul(f, jj, Br)), bmax, d->scale, smin(f, MRv, sub(f, bc, jj))};
    call_nv(f, s, kn->qk, nv, qa, 8);
    loop_end(f, &lt);
    If masked;
    if_begin(f, &masked, cmp(f, LLVMIntNE, d->kind, k64(f, ATTN_MASK_NONE)));
    LLVMValueRef mblk = gep(f, cm->i8, mk, mul(f, melem, mul(f, j0, d->m_s[3])));
    LLVMValueRef ma[] = {bc, ST, bmax, d->kind, mblk, d->m_s[2], d->m_s[3], rows};
    call_nv(f, s, kn->mask, nv, ma, 8);
    if_end(f, &masked);
    softmax_step(f, s, nv, ST, bc, m, l, alpha, bmax);
    /* O^T: tiles of MR channels, the last one of what is left */
    LLVMValueRef vblk = gepf(f, v, mul(f, j0, d->v_s[2]));
    LLVMValueRef c0 = loop_begin(f, &lc, k64(f, 0), d->Dv, MRv);
    LLVMValueRef pa[] = {bc, gepf(f, vblk, c0), d->v_s[2], ST, gepf(f, OT, mul(f, c0, Br)), alpha,
                         smin(f, MRv, sub(f, d->Dv, c0))};
    call_nv(f, s, kn->pv, nv, pa, 7);
    loop_end(f, &lc);
    loop_end(f, &lj);

    call(f, kn->out, (LLVMValueRef[]){OT, l, d->S, d->Dv, rows, nv, o, d->o_s[2]}, 8);
}

/* The workspace of a running task: one of the driver's nslot blocks of W floats (at most nslot tasks
 * run at once: one per thread), claimed by flipping its busy flag from 0 to 1; *slot is its number,
 * or -1 with a block on the stack when the driver has none (its allocation failed). */
static LLVMValueRef claim_workspace(Fn *f, LLVMValueRef ctx, LLVMValueRef *slot_var) {
    CgModule *cm = f->cm;
    LLVMValueRef W = tctx_get(f, ctx, T_W), heap = tctx_get(f, ctx, T_BUF), busy = tctx_get(f, ctx, T_BUSY);
    LLVMValueRef slot = var(f, cm->i64, k64(f, -1)), buf = var(f, cm->ptr, NULL);
    If have, free_, claimed;
    if_begin(f, &have, LLVMBuildIsNotNull(f->b, heap, ""));
    Loop ls;
    LLVMValueRef i = loop_begin(f, &ls, k64(f, 0), tctx_get(f, ctx, T_NSLOT), k64(f, 1));
    if_begin(f, &free_, cmp(f, LLVMIntSLT, LLVMBuildLoad2(f->b, cm->i64, slot, ""), k64(f, 0)));
    LLVMValueRef old = LLVMBuildAtomicRMW(f->b, LLVMAtomicRMWBinOpXchg, gep(f, cm->i32, busy, i),
                                          LLVMConstInt(cm->i32, 1, 0), LLVMAtomicOrderingAcquire, 0);
    if_begin(f, &claimed, cmp(f, LLVMIntEQ, old, LLVMConstInt(cm->i32, 0, 0)));
    LLVMBuildStore(f->b, i, slot);
    LLVMBuildStore(f->b, gepf(f, heap, mul(f, i, W)), buf);
    if_end(f, &claimed);
    if_end(f, &free_);
    loop_end(f, &ls);
    if_end(f, &have);
    If none;
    if_begin(f, &none, LLVMBuildIsNull(f->b, LLVMBuildLoad2(f->b, cm->ptr, buf, ""), ""));
    LLVMValueRef st = LLVMBuildArrayAlloca(f->b, cm->f32, W, "");
    LLVMSetAlignment(st, 64);
    LLVMBuildStore(f->b, st, buf);
    if_end(f, &none);
    *slot_var = slot;
    return LLVMBuildLoad2(f->b, cm->ptr, buf, "");
}

/* Hands the workspace of claim_workspace back. */
static void release_workspace(Fn *f, LLVMValueRef ctx, LLVMValueRef slot_var) {
    CgModule *cm = f->cm;
    LLVMValueRef slot = LLVMBuildLoad2(f->b, cm->i64, slot_var, "");
    If held;
    if_begin(f, &held, cmp(f, LLVMIntSGE, slot, k64(f, 0)));
    LLVMValueRef st = LLVMBuildStore(f->b, LLVMConstInt(cm->i32, 0, 0), gep(f, cm->i32, tctx_get(f, ctx, T_BUSY), slot));
    LLVMSetOrdering(st, LLVMAtomicOrderingRelease);
    LLVMSetAlignment(st, 4);
    if_end(f, &held);
}

/* Task u: one query block. The full blocks come first (block u % (nqb-1) of batch index u / (nqb-1)
 * for u < nb*(nqb-1)), then the last block of every batch index, which may be shorter: the pool's
 * threads take tasks in order, so the short ones are what is left for the end, when one thread may
 * finish a task before the other. */
static LLVMValueRef emit_task(CgModule *cm, const Tiles *s, const Kernels *kn) {
    LLVMTypeRef pt[] = {cm->ptr, cm->i64};
    LLVMValueRef fn = new_function(cm, "attn_attention_task", LLVMFunctionType(cm->void_t, pt, 2, 0), true);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef ctx = LLVMGetParam(fn, 0), u = LLVMGetParam(fn, 1);
    Desc d = load_desc(f, tctx_get(f, ctx, T_ARGS));
    LLVMValueRef nqb = tctx_get(f, ctx, T_NQB), slot;
    LLVMValueRef base = claim_workspace(f, ctx, &slot);
    LLVMValueRef nfull = sub(f, nqb, k64(f, 1)), full = mul(f, tctx_get(f, ctx, T_NB), nfull);
    LLVMValueRef first = cmp(f, LLVMIntSLT, u, full), ulast = sub(f, u, full);
    /* nfull is 0 only when no task is a full block (first is false): the division is not reached */
    LLVMValueRef den = LLVMBuildSelect(f->b, first, nfull, k64(f, 1), "");
    LLVMValueRef bi = LLVMBuildSelect(f->b, first, sdiv(f, u, den), ulast, "");
    LLVMValueRef qb = LLVMBuildSelect(f->b, first, LLVMBuildSRem(f->b, u, den, ""), nfull, "");
    LLVMValueRef b0 = sdiv(f, bi, d.nb1), b1 = LLVMBuildSRem(f->b, bi, d.nb1, "");
    LLVMValueRef i0 = mul(f, qb, k64(f, s->Br));
    query_block(f, s, kn, &d, base, b0, b1, i0, smin(f, k64(f, s->Br), sub(f, d.L, i0)));
    release_workspace(f, ctx, slot);
    fn_end(f);
    return fn;
}

/* ---- the driver ------------------------------------------------------- */

static LLVMTypeRef attention_type(CgModule *cm) {
    LLVMTypeRef p[] = {cm->ptr, cm->ptr};
    return LLVMFunctionType(cm->void_t, p, 2, 0);
}

static bool defined(LLVMValueRef fn) { return fn && LLVMCountBasicBlocks(fn) > 0; }

LLVMValueRef cg_attention(CgModule *cm) {
    LLVMValueRef fn = LLVMGetNamedFunction(cm->mod, "attn_attention");
    if (defined(fn))
        return fn;
    Tiles s = tiles_for(cm->target);
    Kernels kn;
    for (int nv = 1; nv <= s.NV; nv++) {
        kn.qk[nv - 1] = emit_qk(cm, &s, nv);
        kn.pv[nv - 1] = emit_pv(cm, &s, nv);
        kn.mask[nv - 1] = emit_mask(cm, &s, nv);
    }
    kn.pack = emit_pack(cm, &s);
    kn.out = emit_out(cm, &s);
    LLVMValueRef task = emit_task(cm, &s, &kn);
    if (!fn)
        fn = new_function(cm, "attn_attention", attention_type(cm), false);
    Fn F, *f = &F;
    fn_begin(f, cm, fn);
    LLVMValueRef args = LLVMGetParam(fn, 0), pool = LLVMGetParam(fn, 1);
    LLVMValueRef nb0 = arg(f, args, AF_NB0, cm->i64), nb1 = arg(f, args, AF_NB1, cm->i64),
                 L = arg(f, args, AF_L, cm->i64), S = arg(f, args, AF_S, cm->i64), D = arg(f, args, AF_D, cm->i64),
                 Dv = arg(f, args, AF_DV, cm->i64);
    LLVMValueRef zero = k64(f, 0);
    If empty;
    LLVMValueRef none = LLVMBuildOr(f->b, cmp(f, LLVMIntSLE, nb0, zero), cmp(f, LLVMIntSLE, nb1, zero), "");
    none = LLVMBuildOr(f->b, none, cmp(f, LLVMIntSLE, L, zero), "");
    none = LLVMBuildOr(f->b, none, cmp(f, LLVMIntSLE, Dv, zero), "");
    if_begin(f, &empty, none);
    LLVMBuildRetVoid(f->b);
    LLVMPositionBuilderAtEnd(f->b, block(f, "dead"));
    if_end(f, &empty);
    D = LLVMBuildSelect(f->b, cmp(f, LLVMIntSLT, D, zero), zero, D, "");
    S = LLVMBuildSelect(f->b, cmp(f, LLVMIntSLT, S, zero), zero, S, "");
    LLVMValueRef nqb = cdiv(f, L, k64(f, s.Br)), units = mul(f, mul(f, nb0, nb1), nqb);
    /* one task per query block, spread over the pool when each thread gets enough work (~128 K
       multiply-adds); as many workspaces as tasks can run at once, reused by the tasks */
    LLVMValueRef T = LLVMBuildSExt(f->b, call(f, runtime_fn(cm, "attn_pool_threads"), &pool, 1), cm->i64, "");
    LLVMValueRef work = mul(f, mul(f, units, k64(f, s.Br)), mul(f, add(f, S, k64(f, 1)), add(f, D, Dv)));
    LLVMValueRef par = LLVMBuildAnd(f->b, cmp(f, LLVMIntSGT, T, k64(f, 1)),
                                    cmp(f, LLVMIntSGE, work, mul(f, T, k64(f, 1 << 17))), "");
    LLVMValueRef nslot = LLVMBuildSelect(f->b, par, smin(f, units, T), k64(f, 1), "");
    LLVMValueRef busy = LLVMBuildArrayAlloca(f->b, cm->i32, nslot, "");
    Loop lb;
    LLVMValueRef i = loop_begin(f, &lb, zero, nslot, k64(f, 1));
    LLVMBuildStore(f->b, LLVMConstInt(cm->i32, 0, 0), gep(f, cm->i32, busy, i));
    loop_end(f, &lb);
    LLVMValueRef W = mul(f, k64(f, s.Br), add(f, add(f, D, Dv), k64(f, s.Bc + 4)));
    LLVMValueRef bytes = mul(f, mul(f, nslot, W), k64(f, 4));
    LLVMValueRef buf = call(f, runtime_fn(cm, "attn_rt_aligned_alloc"), &bytes, 1);
    LLVMValueRef ctx = var(f, task_ctx_type(cm, TASK), NULL);
    tctx_set(f, ctx, T_ARGS, args);
    tctx_set(f, ctx, T_BUF, buf);
    tctx_set(f, ctx, T_BUSY, busy);
    tctx_set(f, ctx, T_W, W);
    tctx_set(f, ctx, T_NQB, nqb);
    tctx_set(f, ctx, T_NB, mul(f, nb0, nb1));
    tctx_set(f, ctx, T_NSLOT, nslot);
    If one;
    if_begin(f, &one, par);
    call(f, runtime_fn(cm, "attn_rt_parallel_for"), (LLVMValueRef[]){pool, units, task, ctx}, 4);
    if_else(f, &one);
    Loop lu;
    LLVMValueRef u = loop_begin(f, &lu, zero, units, k64(f, 1));
    call(f, task, (LLVMValueRef[]){ctx, u}, 2);
    loop_end(f, &lu);
    if_end(f, &one);
    call(f, runtime_fn(cm, "attn_rt_aligned_free"), &buf, 1);
    fn_end(f);
    return fn;
}

LLVMValueRef cg_attention_fn(CgModule *cm) {
    if (!cm->core_external)
        return cg_attention(cm);
    return cg_function(cm, "attn_attention", attention_type(cm));
}
