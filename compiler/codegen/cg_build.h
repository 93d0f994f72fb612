/*
 * cg_build.h — a little structured-IR builder shared by the generated cores
 * (cg_matmul.c, cg_attention.c): a function under construction, stack
 * variables that the optimiser promotes to registers, counted loops and
 * if/else, and i64 arithmetic with no-signed-wrap flags. (Kernels of graph
 * nodes use cg_kernel.h's CgKernel instead.)
 */
#ifndef ATTN_CG_BUILD_H
#define ATTN_CG_BUILD_H

#include "cg.h"

#include <stdbool.h>
#include <string.h>

static inline void add_attribute(CgModule *cm, LLVMValueRef fn, const char *name) {
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cm->ctx, kind, 0));
}

/* A function of the module; internal linkage unless it is an entry point. */
static inline LLVMValueRef new_function(CgModule *cm, const char *name, LLVMTypeRef type, bool internal) {
    LLVMValueRef fn = LLVMAddFunction(cm->mod, name, type);
    if (internal)
        LLVMSetLinkage(fn, LLVMInternalLinkage);
    add_attribute(cm, fn, "nounwind");
    return fn;
}

typedef struct Fn {
    CgModule *cm;
    LLVMBuilderRef b;
    LLVMValueRef fn;
    LLVMBasicBlockRef entry;
} Fn;

static inline void fn_begin(Fn *f, CgModule *cm, LLVMValueRef fn) {
    f->cm = cm;
    f->fn = fn;
    f->b = LLVMCreateBuilderInContext(cm->ctx);
    f->entry = LLVMAppendBasicBlockInContext(cm->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(f->b, f->entry);
}

/* A stack variable in the entry block (promoted to registers by the optimiser). */
static inline LLVMValueRef var(Fn *f, LLVMTypeRef t, LLVMValueRef init) {
    LLVMBuilderRef eb = LLVMCreateBuilderInContext(f->cm->ctx);
    LLVMValueRef first = LLVMGetFirstInstruction(f->entry);
    if (first)
        LLVMPositionBuilderBefore(eb, first);
    else
        LLVMPositionBuilderAtEnd(eb, f->entry);
    LLVMValueRef v = LLVMBuildAlloca(eb, t, "");
    LLVMDisposeBuilder(eb);
    if (init)
        LLVMBuildStore(f->b, init, v);
    return v;
}

/* The context a core's driver hands to its tasks: a struct of `nptr` pointer
 * fields followed by i64 fields, `count` fields in all. */
typedef struct TaskCtx {
    int nptr, count;
} TaskCtx;

#define TASK_CTX_MAX_FIELDS 32

static inline LLVMTypeRef task_ctx_type(CgModule *cm, TaskCtx c) {
    LLVMTypeRef t[TASK_CTX_MAX_FIELDS];
    for (int i = 0; i < c.count && i < TASK_CTX_MAX_FIELDS; i++)
        t[i] = i < c.nptr ? cm->ptr : cm->i64;
    return LLVMStructTypeInContext(cm->ctx, t, (unsigned)c.count, 0);
}
static inline LLVMValueRef task_ctx_field(Fn *f, TaskCtx c, LLVMValueRef ctx, int field) {
    return LLVMBuildStructGEP2(f->b, task_ctx_type(f->cm, c), ctx, (unsigned)field, "");
}
static inline LLVMValueRef task_ctx_get(Fn *f, TaskCtx c, LLVMValueRef ctx, int field) {
    return LLVMBuildLoad2(f->b, field < c.nptr ? f->cm->ptr : f->cm->i64, task_ctx_field(f, c, ctx, field), "");
}
static inline void task_ctx_set(Fn *f, TaskCtx c, LLVMValueRef ctx, int field, LLVMValueRef v) {
    LLVMBuildStore(f->b, v, task_ctx_field(f, c, ctx, field));
}

static inline LLVMBasicBlockRef block(Fn *f, const char *name) {
    return LLVMAppendBasicBlockInContext(f->cm->ctx, f->fn, name);
}

typedef struct Loop {
    LLVMValueRef iv, i, step;
    LLVMBasicBlockRef head, exit;
} Loop;

/* for (i = start; i < end; i += step): returns i inside the body. */
static inline LLVMValueRef loop_begin(Fn *f, Loop *l, LLVMValueRef start, LLVMValueRef end, LLVMValueRef step) {
    l->iv = var(f, f->cm->i64, start);
    l->step = step;
    l->head = block(f, "loop");
    LLVMBasicBlockRef body = block(f, "body");
    l->exit = block(f, "done");
    LLVMBuildBr(f->b, l->head);
    LLVMPositionBuilderAtEnd(f->b, l->head);
    l->i = LLVMBuildLoad2(f->b, f->cm->i64, l->iv, "i");
    LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntSLT, l->i, end, ""), body, l->exit);
    LLVMPositionBuilderAtEnd(f->b, body);
    return l->i;
}

static inline void loop_end(Fn *f, Loop *l) {
    LLVMBuildStore(f->b, LLVMBuildNSWAdd(f->b, l->i, l->step, ""), l->iv);
    LLVMBuildBr(f->b, l->head);
    LLVMPositionBuilderAtEnd(f->b, l->exit);
}

typedef struct If {
    LLVMBasicBlockRef els, done;
    bool has_else;
} If;

static inline void if_begin(Fn *f, If *s, LLVMValueRef cond) {
    LLVMBasicBlockRef then = block(f, "then");
    s->els = block(f, "else");
    s->done = block(f, "endif");
    s->has_else = false;
    LLVMBuildCondBr(f->b, cond, then, s->els);
    LLVMPositionBuilderAtEnd(f->b, then);
}

static inline void if_else(Fn *f, If *s) {
    LLVMBuildBr(f->b, s->done);
    LLVMPositionBuilderAtEnd(f->b, s->els);
    s->has_else = true;
}

static inline void if_end(Fn *f, If *s) {
    if (!s->has_else)
        if_else(f, s);
    LLVMBuildBr(f->b, s->done);
    LLVMPositionBuilderAtEnd(f->b, s->done);
}

static inline LLVMValueRef k64(Fn *f, int64_t v) { return cg_i64(f->cm, v); }
static inline LLVMValueRef add(Fn *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(f->b, a, b, ""); }
static inline LLVMValueRef sub(Fn *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWSub(f->b, a, b, ""); }
static inline LLVMValueRef mul(Fn *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWMul(f->b, a, b, ""); }
static inline LLVMValueRef sdiv(Fn *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSDiv(f->b, a, b, ""); }
static inline LLVMValueRef cmp(Fn *f, LLVMIntPredicate p, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildICmp(f->b, p, a, b, "");
}
static inline LLVMValueRef smin(Fn *f, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(f->b, cmp(f, LLVMIntSLT, a, b), a, b, "");
}
/* ceil(a / b) for a >= 0, b > 0 */
static inline LLVMValueRef cdiv(Fn *f, LLVMValueRef a, LLVMValueRef b) { return sdiv(f, add(f, a, sub(f, b, k64(f, 1))), b); }

/* The runtime functions the cores call (cg_runtime.c), declared in the module. */
static inline LLVMValueRef runtime_fn(CgModule *cm, const char *name) {
    if (!strcmp(name, "attn_rt_parallel_for")) {
        LLVMTypeRef p[] = {cm->ptr, cm->i64, cm->ptr, cm->ptr};
        return cg_function(cm, name, LLVMFunctionType(cm->void_t, p, 4, 0));
    }
    if (!strcmp(name, "attn_pool_threads"))
        return cg_function(cm, name, LLVMFunctionType(cm->i32, &cm->ptr, 1, 0));
    if (!strcmp(name, "attn_rt_aligned_alloc"))
        return cg_function(cm, name, LLVMFunctionType(cm->ptr, &cm->i64, 1, 0));
    return cg_function(cm, name, LLVMFunctionType(cm->void_t, &cm->ptr, 1, 0)); /* attn_rt_aligned_free */
}

/* A call of fn, a function of the module. */
static inline LLVMValueRef call(Fn *f, LLVMValueRef fn, LLVMValueRef *args, int n) {
    return LLVMBuildCall2(f->b, LLVMGlobalGetValueType(fn), fn, args, (unsigned)n, "");
}

#endif
