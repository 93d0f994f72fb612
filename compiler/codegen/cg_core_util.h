/*
 * cg_core_util.h — small emitters shared by the generated matmul cores
 * (cg_matmul.c, cg_matmul_bf16.c, cg_matmul_i8.c) on top of cg_build.h:
 * aligned and masked memory access, vector splats and lane masks, intrinsic
 * calls, tables of kernels, the register tile and the task grid, and the
 * launch of tasks and epilogues.
 */
#ifndef ATTN_CG_CORE_UTIL_H
#define ATTN_CG_CORE_UTIL_H

#include "cg_build.h"
#include "cg_target.h"
#include "pack.h"

static inline void fn_end(Fn *f) { LLVMDisposeBuilder(f->b); }

/* p + idx elements of type t */
static inline LLVMValueRef gep(Fn *f, LLVMTypeRef t, LLVMValueRef p, LLVMValueRef idx) {
    return LLVMBuildInBoundsGEP2(f->b, t, p, &idx, 1, "");
}
static inline LLVMValueRef gepf(Fn *f, LLVMValueRef p, LLVMValueRef idx) { return gep(f, f->cm->f32, p, idx); }

static inline LLVMValueRef load_aligned(Fn *f, LLVMTypeRef t, LLVMValueRef p, unsigned align) {
    LLVMValueRef v = LLVMBuildLoad2(f->b, t, p, "");
    LLVMSetAlignment(v, align);
    return v;
}
static inline void store_aligned(Fn *f, LLVMValueRef v, LLVMValueRef p, unsigned align) {
    LLVMSetAlignment(LLVMBuildStore(f->b, v, p), align);
}
/* Loads and stores of 4-byte aligned data (f32, i32, and vectors of them). */
static inline LLVMValueRef load4(Fn *f, LLVMTypeRef t, LLVMValueRef p) { return load_aligned(f, t, p, 4); }
static inline void store4(Fn *f, LLVMValueRef v, LLVMValueRef p) { store_aligned(f, v, p, 4); }

/* Calls an intrinsic overloaded on several types. */
static inline LLVMValueRef intrinsic(Fn *f, const char *name, LLVMTypeRef *types, int ntypes, LLVMValueRef *args,
                                     int nargs) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(f->cm->mod, id, types, (size_t)ntypes);
    LLVMTypeRef ft = LLVMIntrinsicGetType(f->cm->ctx, id, types, (size_t)ntypes);
    return LLVMBuildCall2(f->b, ft, fn, args, (unsigned)nargs, "");
}

static inline LLVMValueRef fma_v(Fn *f, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
    LLVMValueRef args[] = {a, b, c};
    return cg_intrinsic(f->cm, f->b, "llvm.fma", LLVMTypeOf(c), args, 3);
}

/* A vector of `lanes` copies of x. */
static inline LLVMValueRef splat(Fn *f, LLVMValueRef x, int lanes) {
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(x), (unsigned)lanes);
    LLVMValueRef v = LLVMBuildInsertElement(f->b, LLVMGetPoison(vt), x, LLVMConstInt(f->cm->i32, 0, 0), "");
    return LLVMBuildShuffleVector(f->b, v, LLVMGetPoison(vt),
                                  LLVMConstNull(LLVMVectorType(f->cm->i32, (unsigned)lanes)), "");
}

enum { LANE_MASK_MAX = 64 };

/* Lanes l with l < rem (rem an i64, any value), for lanes <= LANE_MASK_MAX. */
static inline LLVMValueRef lane_mask(Fn *f, LLVMValueRef rem, int lanes) {
    LLVMValueRef idx[LANE_MASK_MAX];
    for (int l = 0; l < lanes; l++)
        idx[l] = LLVMConstInt(f->cm->i32, (unsigned long long)l, 0);
    LLVMValueRef r = LLVMBuildTrunc(f->b, smin(f, rem, k64(f, lanes)), f->cm->i32, "");
    return LLVMBuildICmp(f->b, LLVMIntSLT, LLVMConstVector(idx, (unsigned)lanes), splat(f, r, lanes), "");
}

/* The lanes of mask from 4-byte aligned p, passthru's elsewhere. */
static inline LLVMValueRef masked_load(Fn *f, LLVMTypeRef vt, LLVMValueRef p, LLVMValueRef mask,
                                       LLVMValueRef passthru) {
    LLVMTypeRef types[] = {vt, f->cm->ptr};
    LLVMValueRef args[] = {p, LLVMConstInt(f->cm->i32, 4, 0), mask, passthru};
    return intrinsic(f, "llvm.masked.load", types, 2, args, 4);
}

static inline void masked_store(Fn *f, LLVMValueRef v, LLVMValueRef p, LLVMValueRef mask, unsigned align) {
    LLVMTypeRef types[] = {LLVMTypeOf(v), f->cm->ptr};
    LLVMValueRef args[] = {v, p, LLVMConstInt(f->cm->i32, align, 0), mask};
    intrinsic(f, "llvm.masked.store", types, 2, args, 4);
}

/* A constant table of function pointers, called through by index. */
static inline LLVMValueRef fn_table(CgModule *cm, const char *name, LLVMValueRef *fns, int n) {
    LLVMTypeRef at = LLVMArrayType2(cm->ptr, (uint64_t)n);
    LLVMValueRef g = LLVMAddGlobal(cm->mod, at, name);
    LLVMSetInitializer(g, LLVMConstArray2(cm->ptr, fns, (uint64_t)n));
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMInternalLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    return g;
}

static inline LLVMValueRef table_get(Fn *f, LLVMValueRef table, LLVMValueRef idx) {
    LLVMValueRef p = LLVMBuildInBoundsGEP2(f->b, f->cm->ptr, table, &idx, 1, "");
    return LLVMBuildLoad2(f->b, f->cm->ptr, p, "");
}

/* void task(ptr ctx, i64 t): the type of the tasks of attn_rt_parallel_for. */
static inline LLVMTypeRef task_type(CgModule *cm) {
    LLVMTypeRef p[] = {cm->ptr, cm->i64};
    return LLVMFunctionType(cm->void_t, p, 2, 0);
}

/* n tasks of fn over the pool (n == 1: a plain call). */
static inline void run_tasks(Fn *f, LLVMValueRef pool, LLVMValueRef n, LLVMValueRef task, LLVMValueRef ctx) {
    If one;
    if_begin(f, &one, cmp(f, LLVMIntEQ, n, k64(f, 1)));
    LLVMValueRef a1[] = {ctx, k64(f, 0)};
    call(f, task, a1, 2);
    if_else(f, &one);
    LLVMValueRef a2[] = {pool, n, task, ctx};
    call(f, runtime_fn(f->cm, "attn_rt_parallel_for"), a2, 4);
    if_end(f, &one);
}

/* Threads of the pool, as i64. */
static inline LLVMValueRef pool_threads(Fn *f, LLVMValueRef pool) {
    LLVMValueRef t = call(f, runtime_fn(f->cm, "attn_pool_threads"), &pool, 1);
    return LLVMBuildSExt(f->b, t, f->cm->i64, "");
}

/* if (when && epi) epi(epi_arg, r0, r1, c0, c1): the epilogue on a finished
 * rectangle of C (contract in cg_matmul.h); `when` NULL means always. */
static inline void call_epi(Fn *f, LLVMValueRef when, LLVMValueRef epi, LLVMValueRef epi_arg, LLVMValueRef r0,
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

/* The register tile every core shares with the packed panels (pack.h). */
typedef struct CoreTile {
    int L;  /* 32-bit lanes per vector */
    int MR; /* rows of the register tile */
    int NV; /* vectors per row of the tile */
    int NR; /* NV * L: columns of a packed panel (attn_pack_nr) */
} CoreTile;

static inline CoreTile core_tile(const CgTarget *t) {
    CoreTile c;
    c.L = cg_target_lanes(t);
    c.NR = attn_pack_nr(c.L);
    c.NV = c.NR / c.L;
    c.MR = c.L >= 16 ? 8 : 6;
    return c;
}

/* Rows [*m0, *m1) of task row ti of tm over mp panels of MR rows. */
static inline void task_rows(Fn *f, LLVMValueRef ti, LLVMValueRef tm, LLVMValueRef mp, LLVMValueRef M, int MR,
                             LLVMValueRef *m0, LLVMValueRef *m1) {
    LLVMValueRef MRv = k64(f, MR);
    *m0 = mul(f, sdiv(f, mul(f, ti, mp), tm), MRv);
    *m1 = smin(f, M, mul(f, sdiv(f, mul(f, add(f, ti, k64(f, 1)), mp), tm), MRv));
}

/* Panels [*j0, *j1) of task column tj of tn over np panels in groups of gp:
 * whole groups, so that every epilogue rectangle starts at a multiple of gp
 * panels. */
static inline void task_panels(Fn *f, LLVMValueRef tj, LLVMValueRef tn, LLVMValueRef np, LLVMValueRef gp,
                               LLVMValueRef *j0, LLVMValueRef *j1) {
    LLVMValueRef groups = cdiv(f, np, gp);
    *j0 = smin(f, np, mul(f, sdiv(f, mul(f, tj, groups), tn), gp));
    *j1 = smin(f, np, mul(f, sdiv(f, mul(f, add(f, tj, k64(f, 1)), groups), tn), gp));
}

/* Panels per block when [j0, j1) is cut into even blocks of at most ncp_max
 * panels (at least one), rounded up to whole groups of gp. */
static inline LLVMValueRef block_panels(Fn *f, LLVMValueRef j0, LLVMValueRef j1, int ncp_max, LLVMValueRef gp) {
    LLVMValueRef one = k64(f, 1);
    LLVMValueRef nblocks = cdiv(f, sub(f, j1, j0), k64(f, ncp_max));
    nblocks = LLVMBuildSelect(f->b, cmp(f, LLVMIntSLT, nblocks, one), one, nblocks, "");
    LLVMValueRef ncp = cdiv(f, sub(f, j1, j0), nblocks);
    return mul(f, cdiv(f, LLVMBuildSelect(f->b, cmp(f, LLVMIntSLT, ncp, one), one, ncp, ""), gp), gp);
}

/* Returns early from the driver when M or N <= 0; when K <= 0, zeroes C and
 * hands all of it to the epilogue. */
static inline void gemm_trivial_cases(Fn *f, LLVMValueRef M, LLVMValueRef N, LLVMValueRef K, LLVMValueRef C,
                                      LLVMValueRef ldc, LLVMValueRef epi, LLVMValueRef epi_arg) {
    If empty, nok;
    if_begin(f, &empty, LLVMBuildOr(f->b, cmp(f, LLVMIntSLE, M, k64(f, 0)), cmp(f, LLVMIntSLE, N, k64(f, 0)), ""));
    LLVMBuildRetVoid(f->b);
    LLVMPositionBuilderAtEnd(f->b, block(f, "dead"));
    if_end(f, &empty);
    if_begin(f, &nok, cmp(f, LLVMIntSLE, K, k64(f, 0)));
    Loop li;
    LLVMValueRef i = loop_begin(f, &li, k64(f, 0), M, k64(f, 1));
    LLVMBuildMemSet(f->b, gepf(f, C, mul(f, i, ldc)), LLVMConstInt(f->cm->i8, 0, 0), mul(f, N, k64(f, 4)), 4);
    loop_end(f, &li);
    call_epi(f, NULL, epi, epi_arg, k64(f, 0), M, k64(f, 0), N);
    LLVMBuildRetVoid(f->b);
    LLVMPositionBuilderAtEnd(f->b, block(f, "dead"));
    if_end(f, &nok);
}

#endif
