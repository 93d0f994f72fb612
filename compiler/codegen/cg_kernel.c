/*
 * cg_kernel.c — helpers for kernel emitters and the construction of a node's
 * kernel functions (see cg_kernel.h).
 */
#include "cg_kernel.h"
#include "cg_fused.h"

#include <stdio.h>
#include <string.h>

LLVMValueRef cg_ctx_ptr(CgModule *cm, LLVMBuilderRef b, LLVMValueRef ctx, int slot) {
    LLVMValueRef idx = cg_i64(cm, slot);
    LLVMValueRef p = LLVMBuildGEP2(b, cm->ptr, ctx, &idx, 1, "");
    bool number = slot >= CTX_ERR0 && slot <= CTX_ERR2;
    return LLVMBuildLoad2(b, number ? cm->i64 : cm->ptr, p, "");
}

LLVMValueRef cg_entry_alloca(CgKernel *k, LLVMTypeRef t) {
    LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(k->fn);
    LLVMBuilderRef eb = LLVMCreateBuilderInContext(k->cm->ctx);
    LLVMValueRef first = LLVMGetFirstInstruction(entry);
    if (first)
        LLVMPositionBuilderBefore(eb, first);
    else
        LLVMPositionBuilderAtEnd(eb, entry);
    LLVMValueRef v = LLVMBuildAlloca(eb, t, "");
    LLVMDisposeBuilder(eb);
    return v;
}

static LLVMValueRef safe_divisor(CgModule *cm, LLVMBuilderRef b, LLVMValueRef y) {
    return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLE, y, cg_i64(cm, 0), ""), cg_i64(cm, 1), y, "");
}

/* Floor division or modulo (DIM_DIV, DIM_MOD) of x by a positive divisor y;
 * a divisor <= 0 (possible only for a symbol) divides by 1 instead of trapping. */
static LLVMValueRef floor_divmod(CgModule *cm, LLVMBuilderRef b, DimKind kind, LLVMValueRef x, LLVMValueRef y) {
    y = safe_divisor(cm, b, y);
    LLVMValueRef r = LLVMBuildSRem(b, x, y, ""), neg = LLVMBuildICmp(b, LLVMIntSLT, r, cg_i64(cm, 0), "");
    if (kind == DIM_MOD)
        return LLVMBuildSelect(b, neg, LLVMBuildAdd(b, r, y, ""), r, "");
    return LLVMBuildSub(b, LLVMBuildSDiv(b, x, y, ""), LLVMBuildZExt(b, neg, cm->i64, ""), "");
}

LLVMValueRef cg_dim(CgModule *cm, LLVMBuilderRef b, LLVMValueRef syms, const Dim *d) {
    switch (d->kind) {
    case DIM_CONST:
        return cg_i64(cm, d->value);
    case DIM_SYM: {
        LLVMValueRef idx = cg_i64(cm, d->sym);
        return LLVMBuildLoad2(b, cm->i64, LLVMBuildGEP2(b, cm->i64, syms, &idx, 1, ""), d->name ? d->name : "");
    }
    case DIM_ADD:
        return LLVMBuildAdd(b, cg_dim(cm, b, syms, d->a), cg_dim(cm, b, syms, d->b), "");
    case DIM_MUL:
        return LLVMBuildMul(b, cg_dim(cm, b, syms, d->a), cg_dim(cm, b, syms, d->b), "");
    case DIM_DIV:
    case DIM_MOD:
        return floor_divmod(cm, b, d->kind, cg_dim(cm, b, syms, d->a), cg_dim(cm, b, syms, d->b));
    }
    return cg_i64(cm, 0);
}

/* x + y or x * y through llvm.s{add,mul}.with.overflow; ORs the overflow bit into *bad. */
static LLVMValueRef with_overflow(CgModule *cm, LLVMBuilderRef b, const char *intrinsic, LLVMValueRef x, LLVMValueRef y,
                                  LLVMValueRef *bad) {
    LLVMValueRef args[2] = {x, y};
    LLVMValueRef r = cg_intrinsic(cm, b, intrinsic, cm->i64, args, 2);
    *bad = LLVMBuildOr(b, *bad, LLVMBuildExtractValue(b, r, 1, ""), "");
    return LLVMBuildExtractValue(b, r, 0, "");
}

LLVMValueRef cg_dim_checked(CgModule *cm, LLVMBuilderRef b, LLVMValueRef syms, const Dim *d, LLVMValueRef *bad) {
    if (d->kind == DIM_CONST || d->kind == DIM_SYM)
        return cg_dim(cm, b, syms, d);
    LLVMValueRef x = cg_dim_checked(cm, b, syms, d->a, bad), y = cg_dim_checked(cm, b, syms, d->b, bad);
    switch (d->kind) {
    case DIM_ADD:
        return with_overflow(cm, b, "llvm.sadd.with.overflow", x, y, bad);
    case DIM_MUL:
        return with_overflow(cm, b, "llvm.smul.with.overflow", x, y, bad);
    default: /* DIM_DIV, DIM_MOD: the divisor must be positive */
        *bad = LLVMBuildOr(b, *bad, LLVMBuildICmp(b, LLVMIntSLE, y, cg_i64(cm, 0), ""), "");
        return floor_divmod(cm, b, d->kind, x, y);
    }
}

CgShape cg_shape(CgModule *cm, LLVMBuilderRef b, LLVMValueRef syms, const IrType *t) {
    CgShape s = {.rank = t->rank};
    for (int i = 0; i < t->rank; i++) {
        s.dim[i] = cg_dim(cm, b, syms, t->dims[i]);
        if (!dim_is_const(t->dims[i], &s.cdim[i]))
            s.cdim[i] = -1;
    }
    return s;
}

LLVMValueRef cg_shape_numel(CgModule *cm, LLVMBuilderRef b, const CgShape *s, int from, int to) {
    LLVMValueRef n = cg_i64(cm, 1);
    for (int i = from; i < to; i++)
        n = LLVMBuildMul(b, n, s->dim[i], "");
    return n;
}

LLVMValueRef cg_loop_begin(CgKernel *k, CgLoop *l, LLVMValueRef lo, LLVMValueRef hi, int64_t step) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    l->pre = LLVMGetInsertBlock(b);
    l->head = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "loop");
    l->body = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "body");
    l->exit = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "done");
    l->step = cg_i64(cm, step);
    LLVMBuildBr(b, l->head);
    LLVMPositionBuilderAtEnd(b, l->head);
    l->i = LLVMBuildPhi(b, cm->i64, "i");
    LLVMAddIncoming(l->i, &lo, &l->pre, 1);
    LLVMValueRef next = step == 1 ? l->i : LLVMBuildAdd(b, l->i, cg_i64(cm, step - 1), "");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, next, hi, ""), l->body, l->exit);
    LLVMPositionBuilderAtEnd(b, l->body);
    return l->i;
}

/* Closes loop l (the back edge and the exit); returns the back edge's branch. */
static LLVMValueRef loop_close(CgKernel *k, CgLoop *l) {
    LLVMBuilderRef b = k->b;
    LLVMValueRef next = LLVMBuildAdd(b, l->i, l->step, "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(b);
    LLVMAddIncoming(l->i, &next, &latch, 1);
    LLVMValueRef br = LLVMBuildBr(b, l->head);
    LLVMPositionBuilderAtEnd(b, l->exit);
    return br;
}

void cg_loop_end(CgKernel *k, CgLoop *l) { loop_close(k, l); }

void cg_loop_end_scalar_tail(CgKernel *k, CgLoop *l) { cg_loop_keep_scalar(k->cm, loop_close(k, l)); }

LLVMTypeRef cg_compute_type(CgModule *cm, attn_dtype dt, int lanes) {
    LLVMTypeRef t = dt == ATTN_F32 ? cm->f32 : cm->i64;
    return lanes > 1 ? LLVMVectorType(t, (unsigned)lanes) : t;
}

LLVMTypeRef cg_storage_type(CgModule *cm, attn_dtype dt) {
    switch (dt) {
    case ATTN_F32: return cm->f32;
    case ATTN_I32: return cm->i32;
    case ATTN_I64: return cm->i64;
    case ATTN_BOOL: return cm->i8;
    }
    return cm->i8;
}

static LLVMTypeRef vec_of(LLVMTypeRef t, int lanes) { return lanes > 1 ? LLVMVectorType(t, (unsigned)lanes) : t; }

LLVMValueRef cg_load(CgKernel *k, attn_dtype dt, LLVMValueRef ptr, LLVMValueRef idx, int lanes) {
    CgModule *cm = k->cm;
    LLVMTypeRef st = cg_storage_type(cm, dt);
    LLVMValueRef p = LLVMBuildGEP2(k->b, st, ptr, &idx, 1, "");
    LLVMValueRef v = LLVMBuildLoad2(k->b, vec_of(st, lanes), p, "");
    LLVMSetAlignment(v, (unsigned)attn_dtype_size(dt));
    return cg_widen_loaded(k, dt, v, lanes);
}

LLVMValueRef cg_widen_loaded(CgKernel *k, attn_dtype dt, LLVMValueRef v, int lanes) {
    LLVMTypeRef ct = cg_compute_type(k->cm, dt, lanes);
    if (dt == ATTN_I32)
        return LLVMBuildSExt(k->b, v, ct, "");
    if (dt == ATTN_BOOL)
        return LLVMBuildZExt(k->b, v, ct, "");
    return v;
}

void cg_store(CgKernel *k, attn_dtype dt, LLVMValueRef ptr, LLVMValueRef idx, LLVMValueRef v, int lanes) {
    CgModule *cm = k->cm;
    LLVMTypeRef st = cg_storage_type(cm, dt);
    if (dt == ATTN_I32)
        v = LLVMBuildTrunc(k->b, v, vec_of(st, lanes), "");
    else if (dt == ATTN_BOOL)
        v = LLVMBuildZExt(k->b, LLVMBuildICmp(k->b, LLVMIntNE, v, LLVMConstNull(LLVMTypeOf(v)), ""), vec_of(st, lanes),
                          "");
    LLVMValueRef p = LLVMBuildGEP2(k->b, st, ptr, &idx, 1, "");
    LLVMValueRef s = LLVMBuildStore(k->b, v, p);
    LLVMSetAlignment(s, (unsigned)attn_dtype_size(dt));
}

LLVMValueRef cg_splat(CgKernel *k, LLVMValueRef v, int lanes) {
    if (lanes <= 1)
        return v;
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(v), (unsigned)lanes);
    LLVMValueRef ins = LLVMBuildInsertElement(k->b, LLVMGetUndef(vt), v, LLVMConstInt(k->cm->i32, 0, 0), "");
    return LLVMBuildShuffleVector(k->b, ins, LLVMGetUndef(vt), LLVMConstNull(LLVMVectorType(k->cm->i32, (unsigned)lanes)),
                                  "");
}

/* Float→integer with truncation toward zero, saturation at [lo, hi] and NaN → 0. */
static LLVMValueRef float_to_int(CgKernel *k, LLVMValueRef v, double lo, double hi, int64_t ilo, int64_t ihi, int lanes) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    LLVMTypeRef it = cg_compute_type(cm, ATTN_I64, lanes);
    LLVMValueRef t = LLVMBuildFPToSI(b, v, it, "");
    LLVMValueRef below = LLVMBuildFCmp(b, LLVMRealOLE, v, cg_f32(cm, lo, lanes), "");
    LLVMValueRef above = LLVMBuildFCmp(b, LLVMRealOGE, v, cg_f32(cm, hi, lanes), "");
    LLVMValueRef nan = LLVMBuildFCmp(b, LLVMRealUNO, v, v, "");
    t = LLVMBuildSelect(b, below, cg_splat(k, cg_i64(cm, ilo), lanes), t, "");
    t = LLVMBuildSelect(b, above, cg_splat(k, cg_i64(cm, ihi), lanes), t, "");
    return LLVMBuildSelect(b, nan, LLVMConstNull(it), t, "");
}

LLVMValueRef cg_convert(CgKernel *k, attn_dtype from, attn_dtype to, LLVMValueRef v, int lanes) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    if (to == ATTN_BOOL) {
        LLVMValueRef nz = from == ATTN_F32 ? LLVMBuildFCmp(b, LLVMRealUNE, v, LLVMConstNull(LLVMTypeOf(v)), "")
                                           : LLVMBuildICmp(b, LLVMIntNE, v, LLVMConstNull(LLVMTypeOf(v)), "");
        return LLVMBuildZExt(b, nz, cg_compute_type(cm, ATTN_BOOL, lanes), "");
    }
    if (from == ATTN_F32 && to == ATTN_F32)
        return v;
    if (to == ATTN_F32)
        return LLVMBuildSIToFP(b, v, cg_compute_type(cm, ATTN_F32, lanes), "");
    if (from == ATTN_F32) {
        if (to == ATTN_I32)
            return float_to_int(k, v, -2147483648.0, 2147483647.0, INT32_MIN, INT32_MAX, lanes);
        return float_to_int(k, v, -9223372036854775808.0, 9223372036854775807.0, INT64_MIN, INT64_MAX, lanes);
    }
    return v; /* integers and bool share i64 */
}

LLVMValueRef cg_reduce_fadd(CgKernel *k, LLVMValueRef v) {
    LLVMTypeRef vt = LLVMTypeOf(v);
    if (LLVMGetTypeKind(vt) != LLVMVectorTypeKind)
        return v;
    LLVMValueRef args[] = {cg_f32(k->cm, -0.0, 1), v};
    return cg_fast(cg_intrinsic(k->cm, k->b, "llvm.vector.reduce.fadd", vt, args, 2));
}

void cg_fail_if(CgKernel *k, LLVMValueRef cond, LLVMValueRef v0, LLVMValueRef v1, LLVMValueRef v2) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "fail");
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "ok");
    LLVMBuildCondBr(b, cond, fail, ok);
    LLVMPositionBuilderAtEnd(b, fail);
    LLVMValueRef vals[3] = {v0, v1, v2};
    for (int i = 0; i < 3; i++) {
        LLVMValueRef idx = cg_i64(cm, CTX_ERR0 + i);
        LLVMBuildStore(b, vals[i] ? vals[i] : cg_i64(cm, 0), LLVMBuildGEP2(b, cm->i64, k->ctx, &idx, 1, ""));
    }
    LLVMBuildRet(b, LLVMConstInt(cm->i32, (unsigned long long)(k->site + 1), 0));
    LLVMPositionBuilderAtEnd(b, ok);
}

/* Starts a function of k's node: its entry block, ctx/syms, operand shapes. */
static void kernel_begin(CgKernel *k, LLVMValueRef fn, LLVMValueRef ctx, int ptr_arg) {
    CgModule *cm = k->cm;
    k->fn = fn;
    LLVMPositionBuilderAtEnd(k->b, LLVMAppendBasicBlockInContext(cm->ctx, fn, "entry"));
    k->ctx = ctx;
    k->syms = cg_ctx_ptr(cm, k->b, ctx, CTX_SYMS);
    k->out = LLVMGetParam(fn, (unsigned)ptr_arg);
    k->out_shape = cg_shape(cm, k->b, k->syms, &k->node->type);
    for (int i = 0; i < k->nin; i++) {
        k->in[i] = LLVMGetParam(fn, (unsigned)(ptr_arg + 1 + i));
        k->in_shape[i] = cg_shape(cm, k->b, k->syms, k->in_type[i]);
    }
}

/* Work (elements of output times their cost, see work_per_element) below
 * which a kernel stays on one thread. */
enum { PARALLEL_MIN_ELEMS = 1 << 15, CHUNK_ELEMS = 1 << 13, MAX_CHUNKS = 256 };

static bool transcendental(OpKind op) { return op_info[op].cost == COST_MATH; }

/* Relative cost of one output element: 1 for plain arithmetic and copies,
 * and about 3 more for each exp/log-based function computed per element
 * (a polynomial and a range reduction each), so that the gate kernel of a
 * batch-32 recurrent step (16K elements, four sigmoid/tanh per element)
 * splits over the pool while batch-1 steps stay on one thread. */
static int work_per_element(const IrNode *n, const CgFused *f) {
    int count = 0;
    if (!f)
        count = transcendental(n->op);
    else if (f->kind == FK_ELEMENTWISE)
        for (int m = 0; m < f->nmem; m++)
            count += transcendental(f->g->nodes[f->mem[m]].op);
    return 1 + 3 * (count < 5 ? count : 5);
}

/* Builds the functions of a kernel whose operands have types in_type[0..nin). */
static LLVMValueRef build(CgModule *cm, const IrNode *n, const IrType *const *in_type, int nin, const CgEmitter *em,
                          CgFused *fused, const char *name, int site, int param) {
    CgKernel k = {.cm = cm, .node = n, .site = site, .param = param, .nin = nin, .fused = fused};
    for (int i = 0; i < nin; i++)
        k.in_type[i] = in_type[i];
    k.b = LLVMCreateBuilderInContext(cm->ctx);
    char fname[256];

    /* i32 kN_rows(ctx, lo, hi, out, in...) */
    LLVMTypeRef rows_args[CG_MAX_IN + 4];
    rows_args[0] = cm->ptr;
    rows_args[1] = rows_args[2] = cm->i64;
    for (int i = 0; i <= nin; i++)
        rows_args[3 + i] = cm->ptr;
    LLVMTypeRef rows_t = LLVMFunctionType(cm->i32, rows_args, (unsigned)nin + 4, 0);
    snprintf(fname, sizeof fname, "%s_rows", name);
    LLVMValueRef rows_fn = LLVMAddFunction(cm->mod, fname, rows_t);
    LLVMSetLinkage(rows_fn, LLVMInternalLinkage);
    /* kept out of line so that --emit-asm shows each kernel as one function */
    LLVMAddAttributeAtIndex(rows_fn, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(cm->ctx, LLVMGetEnumAttributeKindForName("noinline", 8), 0));
    kernel_begin(&k, rows_fn, LLVMGetParam(rows_fn, 0), 3);
    em->body(&k, LLVMGetParam(rows_fn, 1), LLVMGetParam(rows_fn, 2));
    LLVMBuildRet(k.b, LLVMConstInt(cm->i32, 0, 0));

    /* void kN_task(ptr args, i64 chunk); args = {ctx, rows, chunks, status, out, in...} */
    LLVMTypeRef task_args[] = {cm->ptr, cm->i64};
    LLVMTypeRef task_t = LLVMFunctionType(cm->void_t, task_args, 2, 0);
    snprintf(fname, sizeof fname, "%s_task", name);
    LLVMValueRef task_fn = LLVMAddFunction(cm->mod, fname, task_t);
    LLVMSetLinkage(task_fn, LLVMInternalLinkage);
    {
        LLVMBuilderRef b = k.b;
        LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cm->ctx, task_fn, "entry"));
        LLVMValueRef args = LLVMGetParam(task_fn, 0), chunk = LLVMGetParam(task_fn, 1);
        LLVMValueRef slot[CG_MAX_IN + 5];
        for (int i = 0; i < nin + 5; i++) {
            LLVMValueRef idx = cg_i64(cm, i);
            slot[i] = LLVMBuildGEP2(b, cm->i64, args, &idx, 1, "");
        }
        LLVMValueRef rows = LLVMBuildLoad2(b, cm->i64, slot[1], ""), chunks = LLVMBuildLoad2(b, cm->i64, slot[2], "");
        LLVMValueRef lo = LLVMBuildSDiv(b, LLVMBuildMul(b, chunk, rows, ""), chunks, "");
        LLVMValueRef hi = LLVMBuildSDiv(b, LLVMBuildMul(b, LLVMBuildAdd(b, chunk, cg_i64(cm, 1), ""), rows, ""), chunks, "");
        LLVMValueRef call[CG_MAX_IN + 4];
        call[0] = LLVMBuildLoad2(b, cm->ptr, slot[0], "");
        call[1] = lo;
        call[2] = hi;
        for (int i = 0; i <= nin; i++)
            call[3 + i] = LLVMBuildLoad2(b, cm->ptr, slot[4 + i], "");
        LLVMValueRef st = LLVMBuildCall2(b, rows_t, rows_fn, call, (unsigned)nin + 4, "");
        LLVMBasicBlockRef bad = LLVMAppendBasicBlockInContext(cm->ctx, task_fn, "bad");
        LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cm->ctx, task_fn, "done");
        LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntNE, st, LLVMConstInt(cm->i32, 0, 0), ""), bad, done);
        LLVMPositionBuilderAtEnd(b, bad);
        LLVMValueRef store = LLVMBuildStore(b, LLVMBuildZExt(b, st, cm->i64, ""), slot[3]);
        LLVMSetOrdering(store, LLVMAtomicOrderingMonotonic);
        LLVMSetAlignment(store, 8);
        LLVMBuildBr(b, done);
        LLVMPositionBuilderAtEnd(b, done);
        LLVMBuildRetVoid(b);
    }

    /* i32 kN(ctx, out, in...) */
    LLVMTypeRef main_args[CG_MAX_IN + 2];
    main_args[0] = cm->ptr;
    for (int i = 0; i <= nin; i++)
        main_args[1 + i] = cm->ptr;
    LLVMValueRef fn = LLVMAddFunction(cm->mod, name, LLVMFunctionType(cm->i32, main_args, (unsigned)nin + 2, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    kernel_begin(&k, fn, LLVMGetParam(fn, 0), 1);
    LLVMBuilderRef b = k.b;
    LLVMValueRef rows = em->rows ? em->rows(&k) : cg_i64(cm, 1);
    LLVMValueRef call[CG_MAX_IN + 4];
    call[0] = k.ctx;
    call[1] = cg_i64(cm, 0);
    call[2] = rows;
    for (int i = 0; i <= nin; i++)
        call[3 + i] = LLVMGetParam(fn, (unsigned)(1 + i));
    LLVMValueRef numel = cg_shape_numel(cm, b, &k.out_shape, 0, k.out_shape.rank);
    LLVMValueRef pool = cg_ctx_ptr(cm, b, k.ctx, CTX_POOL);
    LLVMValueRef work = LLVMBuildMul(b, numel, cg_i64(cm, work_per_element(n, fused)), "");
    LLVMValueRef big = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSGE, work, cg_i64(cm, PARALLEL_MIN_ELEMS), ""),
                                    LLVMBuildICmp(b, LLVMIntSGT, rows, cg_i64(cm, 1), ""), "");
    big = LLVMBuildAnd(b, big, LLVMBuildIsNotNull(b, pool, ""), "");
    LLVMBasicBlockRef serial = LLVMAppendBasicBlockInContext(cm->ctx, fn, "serial");
    LLVMBasicBlockRef par = LLVMAppendBasicBlockInContext(cm->ctx, fn, "parallel");
    LLVMBuildCondBr(b, big, par, serial);
    LLVMPositionBuilderAtEnd(b, serial);
    LLVMBuildRet(b, LLVMBuildCall2(b, rows_t, rows_fn, call, (unsigned)nin + 4, ""));
    LLVMPositionBuilderAtEnd(b, par);
    /* chunks = clamp(work / CHUNK_ELEMS, 2, min(rows, MAX_CHUNKS)) */
    LLVMValueRef chunks = LLVMBuildSDiv(b, work, cg_i64(cm, CHUNK_ELEMS), "");
    LLVMValueRef cap = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, rows, cg_i64(cm, MAX_CHUNKS), ""), rows,
                                       cg_i64(cm, MAX_CHUNKS), "");
    chunks = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, chunks, cap, ""), cap, chunks, "");
    chunks = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, chunks, cg_i64(cm, 2), ""), cg_i64(cm, 2), chunks, "");
    LLVMValueRef args = LLVMBuildArrayAlloca(b, cm->i64, cg_i64(cm, nin + 5), "args");
    LLVMValueRef vals[CG_MAX_IN + 5];
    vals[0] = k.ctx;
    vals[1] = rows;
    vals[2] = chunks;
    vals[3] = cg_i64(cm, 0);
    for (int i = 0; i <= nin; i++)
        vals[4 + i] = LLVMGetParam(fn, (unsigned)(1 + i));
    for (int i = 0; i < nin + 5; i++) {
        LLVMValueRef idx = cg_i64(cm, i);
        LLVMBuildStore(b, vals[i], LLVMBuildGEP2(b, cm->i64, args, &idx, 1, ""));
    }
    LLVMTypeRef pf_args[] = {cm->ptr, cm->i64, cm->ptr, cm->ptr};
    LLVMTypeRef pf_t = LLVMFunctionType(cm->void_t, pf_args, 4, 0);
    LLVMValueRef pf = cg_function(cm, "attn_rt_parallel_for", pf_t);
    LLVMValueRef pf_call[] = {pool, chunks, task_fn, args};
    LLVMBuildCall2(b, pf_t, pf, pf_call, 4, "");
    LLVMValueRef idx3 = cg_i64(cm, 3);
    LLVMValueRef st = LLVMBuildLoad2(b, cm->i64, LLVMBuildGEP2(b, cm->i64, args, &idx3, 1, ""), "");
    LLVMBuildRet(b, LLVMBuildTrunc(b, st, cm->i32, ""));
    LLVMDisposeBuilder(k.b);
    return fn;
}

LLVMValueRef cg_build_kernel(CgModule *cm, const IrGraph *g, const IrNode *n, const char *name, int site, int param) {
    const IrType *in_type[CG_MAX_IN];
    for (int i = 0; i < n->nin && i < CG_MAX_IN; i++)
        in_type[i] = &g->nodes[n->in[i]].type;
    return build(cm, n, in_type, n->nin, cg_emitter(n), NULL, name, site, param);
}

LLVMValueRef cg_build_fused_kernel(CgModule *cm, CgFused *f, const char *name, int site, int param) {
    const IrGraph *g = f->g;
    const IrType *in_type[CG_MAX_IN];
    for (int i = 0; i < f->nleaf; i++)
        in_type[i] = f->leaf[i] < 0 ? f->shape : &g->nodes[f->leaf[i]].type;
    const IrNode *root = &g->nodes[f->root];
    switch (f->kind) {
    case FK_MATMUL: case FK_GATED: case FK_MATMUL_SOFTMAX:
        return build(cm, &g->nodes[f->matmul], in_type, f->nleaf, &cg_emit_matmul, f, name, site, param);
    case FK_REDUCTION:
        return build(cm, root, in_type, f->nleaf, cg_emitter(root), f, name, site, param);
    case FK_ATTENTION:
        return build(cm, root, in_type, f->nleaf, &cg_emit_attention, f, name, site, param);
    default:
        return build(cm, root, in_type, f->nleaf, &cg_emit_fused_elementwise, f, name, site, param);
    }
}
