/*
 * cg_core_util.h — small emitters shared by the generated matmul cores
 * (cg_matmul.c, cg_matmul_bf16.c, cg_matmul_i8.c) on top of cg_build.h:
 * aligned and masked memory access, vector splats and lane masks, intrinsic
 * calls, tables of kernels, and the launch of tasks and epilogues.
 */
#ifndef ATTN_CG_CORE_UTIL_H
#define ATTN_CG_CORE_UTIL_H

#include "cg_build.h"

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

#endif
