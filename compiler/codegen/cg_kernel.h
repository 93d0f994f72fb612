/*
 * cg_kernel.h — building the LLVM function of one graph node (a kernel).
 *
 * For node N of an entry, code generation makes three functions:
 *   i32 kN_rows(ptr ctx, i64 lo, i64 hi, ptr out, ptr in0, ...)  the work of rows [lo, hi)
 *   void kN_task(ptr args, i64 chunk)                             one chunk, for the thread pool
 *   i32 kN(ptr ctx, ptr out, ptr in0, ...)                        what the driver calls
 * An emitter (one per op family) says how many independent rows the work has
 * and emits the body for a row range; kN runs the rows on the calling thread
 * when the work is small and splits them over the pool when it is large.
 * Kernels return 0, or 1 + an error site (a message with the node's source
 * location; ctx->err[0..2] hold its numbers).
 *
 * Inside a kernel every dim is an i64 value: a constant for model dims, a load
 * from ctx->syms for dims that vary per call (CgShape). Values are computed in
 * a "compute type" per dtype: float for f32, i64 for i32, i64 and bool.
 */
#ifndef ATTN_CG_KERNEL_H
#define ATTN_CG_KERNEL_H

#include "attn_limits.h"
#include "cg.h"
#include "ir.h"

enum { CG_MAX_IN = ATTN_LIMIT_KERNEL_ARGS };

/* Slots of the run context (runtime/rt/compiled.h attn_run_ctx), 8 bytes each. */
enum { CTX_PARAMS, CTX_SYMS, CTX_INPUTS, CTX_OUTPUTS, CTX_WORKSPACE, CTX_POOL, CTX_ERR0, CTX_ERR1, CTX_ERR2, CTX_PROFILE };

/* Concrete dims of a tensor inside generated code. */
typedef struct CgShape {
    int rank;
    LLVMValueRef dim[ATTN_MAX_RANK]; /* i64 */
    int64_t cdim[ATTN_MAX_RANK];     /* the value when known at compile time, else -1 */
} CgShape;

struct CgFused;

/* A kernel function under construction. */
typedef struct CgKernel {
    CgModule *cm;
    LLVMBuilderRef b;
    LLVMValueRef fn;            /* the function being built */
    LLVMValueRef ctx;           /* attn_run_ctx * */
    LLVMValueRef syms;          /* const int64_t * */
    const IrNode *node;         /* the node it computes */
    int site;                   /* its error site, or -1 when it cannot fail */
    int param;                  /* MATMUL: index of the packed weight in ctx->params; GATHER: of
                                   its table when that holds BF16 bits (CgParam.bf16); else -1 */
    LLVMValueRef out;           /* its result's buffer */
    CgShape out_shape;
    int nin;
    LLVMValueRef in[CG_MAX_IN]; /* operand buffers */
    const IrType *in_type[CG_MAX_IN];
    CgShape in_shape[CG_MAX_IN];
    struct CgFused *fused;      /* the fused kernel it belongs to (cg_fused.h), or NULL for one node */
} CgKernel;

/* How one family of ops is generated. */
typedef struct CgEmitter {
    /* Independent rows of the work (i64, emitted in k's function), or NULL for
     * one row: the body is then called with lo = 0, hi = 1. */
    LLVMValueRef (*rows)(CgKernel *k);
    /* Emits the work of rows [lo, hi). May branch to cg_fail_if's blocks. */
    void (*body)(CgKernel *k, LLVMValueRef lo, LLVMValueRef hi);
} CgEmitter;

/* The emitter of node n's op (NULL for nodes without a kernel: sources,
 * reshape, scan, result). Defined in cg_node.c. */
const CgEmitter *cg_emitter(const IrNode *n);

/* Emitters by family (cg_elementwise.c, cg_reduce.c, cg_shape_ops.c, cg_matmul_node.c). */
extern const CgEmitter cg_emit_elementwise; /* unary, binary, compare, logic, where, cast, full, arange, expand */
extern const CgEmitter cg_emit_reduce;      /* sum, mean, max, argmax */
extern const CgEmitter cg_emit_softmax;
extern const CgEmitter cg_emit_layer_norm;
extern const CgEmitter cg_emit_matmul;
extern const CgEmitter cg_emit_permute;
extern const CgEmitter cg_emit_slice;
extern const CgEmitter cg_emit_concat;
extern const CgEmitter cg_emit_gather;
extern const CgEmitter cg_emit_check_lengths;

/* Whether op has an elementwise emitter (ops.def's emit column). */
bool cg_elementwise_handles(OpKind op);
/* The value(s) elementwise node n computes from operand values x (compute
 * types of operand dtypes in_dt), `lanes` wide; `flat` is the output index
 * (ARANGE only). Semantics of the op's reference (ops/op_run). */
LLVMValueRef cg_elementwise_apply(CgKernel *k, const IrNode *n, const attn_dtype *in_dt, LLVMValueRef *x,
                                  LLVMValueRef flat, int lanes);

/* ---- helpers for emitters ---- */

/* The i64 value of dim d (constants fold; symbols load from syms). */
LLVMValueRef cg_dim(CgModule *cm, LLVMBuilderRef b, LLVMValueRef syms, const Dim *d);
/* cg_dim computed as the interpreter's dim_eval does: ORs into the i1 *bad
 * whether d has no valid value (an overflow of int64, a divisor <= 0). The
 * per-call checks (PREFIX_workspace) use it once per call, so that cg_dim
 * elsewhere never wraps. */
LLVMValueRef cg_dim_checked(CgModule *cm, LLVMBuilderRef b, LLVMValueRef syms, const Dim *d, LLVMValueRef *bad);
/* The shape of type t. */
CgShape cg_shape(CgModule *cm, LLVMBuilderRef b, LLVMValueRef syms, const IrType *t);
/* Product of dims [from, to) of s. */
LLVMValueRef cg_shape_numel(CgModule *cm, LLVMBuilderRef b, const CgShape *s, int from, int to);

/* A counted loop: for (i = lo; i + step <= hi; i += step). After cg_loop_end
 * the builder is in the exit block, where l->i holds the first index not run. */
typedef struct CgLoop {
    LLVMBasicBlockRef head, body, exit;
    LLVMValueRef i;     /* the index (phi of head) */
    LLVMValueRef step;
    LLVMBasicBlockRef pre;
} CgLoop;
LLVMValueRef cg_loop_begin(CgKernel *k, CgLoop *l, LLVMValueRef lo, LLVMValueRef hi, int64_t step);
void cg_loop_end(CgKernel *k, CgLoop *l);
/* cg_loop_end for the scalar tail loop of a loop over vectors: LLVM is told
 * not to vectorize it again (cg_loop_keep_scalar). */
void cg_loop_end_scalar_tail(CgKernel *k, CgLoop *l);

/* The compute type of dtype dt: float for f32, i64 otherwise; a vector of
 * `lanes` of them when lanes > 1. */
LLVMTypeRef cg_compute_type(CgModule *cm, attn_dtype dt, int lanes);
/* The storage type of one element of dt (float, i32, i64, i8). */
LLVMTypeRef cg_storage_type(CgModule *cm, attn_dtype dt);
/* Widens v, element(s) of dtype dt as stored, to the compute type. */
LLVMValueRef cg_widen_loaded(CgKernel *k, attn_dtype dt, LLVMValueRef v, int lanes);
/* Loads element(s) ptr[idx .. idx+lanes) of dtype dt as the compute type. */
LLVMValueRef cg_load(CgKernel *k, attn_dtype dt, LLVMValueRef ptr, LLVMValueRef idx, int lanes);
/* Stores compute-type value v into ptr[idx ..) of dtype dt (bool stores v != 0). */
void cg_store(CgKernel *k, attn_dtype dt, LLVMValueRef ptr, LLVMValueRef idx, LLVMValueRef v, int lanes);
/* A value of the compute type converted to dtype `to`'s compute type with the
 * rules of CAST (float→int truncates toward zero and saturates, NaN is 0;
 * to bool is v != 0). */
LLVMValueRef cg_convert(CgKernel *k, attn_dtype from, attn_dtype to, LLVMValueRef v, int lanes);
/* Splats scalar v into a vector of `lanes` (returns v when lanes == 1). */
LLVMValueRef cg_splat(CgKernel *k, LLVMValueRef v, int lanes);
/* Horizontal sum of a float vector (reassociating). */
LLVMValueRef cg_reduce_fadd(CgKernel *k, LLVMValueRef v);

/* When `cond` (i1) holds: stores v0..v2 into ctx->err and returns 1 + k->site
 * from the kernel. The builder continues where cond is false. */
void cg_fail_if(CgKernel *k, LLVMValueRef cond, LLVMValueRef v0, LLVMValueRef v1, LLVMValueRef v2);

/* A stack variable of type t in the entry block of k's function: one per
 * call, however often the code that uses it runs. */
LLVMValueRef cg_entry_alloca(CgKernel *k, LLVMTypeRef t);

/* Loads slot `slot` (CTX_*) of the run context as a pointer or an i64. */
LLVMValueRef cg_ctx_ptr(CgModule *cm, LLVMBuilderRef b, LLVMValueRef ctx, int slot);

/* Builds the three functions of node n (see above) and returns kN.
 * `name` is its base name; site/param as in CgKernel. */
LLVMValueRef cg_build_kernel(CgModule *cm, const IrGraph *g, const IrNode *n, const char *name, int site, int param);
/* The same for a fused kernel (cg_fused_collect): its operands are f's leaves. */
LLVMValueRef cg_build_fused_kernel(CgModule *cm, struct CgFused *f, const char *name, int site, int param);

#endif
