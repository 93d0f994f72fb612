/*
 * cg_fused.h — code generation of fused kernels (compiler/fuse/fuse.h).
 *
 * A fused kernel stores one value, its root's, and computes its other
 * members in registers. What it reads from memory are its leaves: values of
 * nodes outside it, passed as the kernel's operands. Members that are views
 * (slices, expands) read their operand in place with shifted or zero
 * strides. The elementwise part of a kernel is an expression over a shape
 * (the root's, or for a reduction its input's); it is generated a row at a
 * time: cg_fused_row finds where each leaf's row starts, cg_fused_eval gives
 * the expression's value at an index of the row.
 */
#ifndef ATTN_CG_FUSED_H
#define ATTN_CG_FUSED_H

#include "cg_kernel.h"
#include "fuse.h"

enum { CG_FUSED_MAX = ATTN_LIMIT_FUSE_MEMBERS };

/* One place the expression reads memory: a leaf, seen through a view member
 * or directly by a member (broadcast to the expression's shape). */
typedef struct CgAccess {
    int node;        /* the member whose value it is (a view), or -1 for an operand read directly */
    int leaf;        /* kernel operand it reads (index into leaf[]); -1: the kernel's own output */
    attn_dtype dt;
    bool wide;       /* FK_GATED: read by a member of the product's shape (strides over its shape) */
    bool inner_bcast; /* stride 0 along the last dim */
    LLVMValueRef stride[ATTN_MAX_RANK]; /* element stride per dim of the expression's shape */
    LLVMValueRef offset;                /* first element */
    LLVMValueRef base;                  /* element index of the current row's first element */
} CgAccess;

typedef struct CgFused {
    const FusePlan *plan;
    const IrGraph *g;
    int root;
    FuseKind kind;
    int nmem, mem[CG_FUSED_MAX];   /* members in graph order, root last */
    int nleaf, leaf[CG_MAX_IN];    /* nodes read from memory (kernel operands); -1 marks an unused slot */
    int site[CG_FUSED_MAX];        /* error site of each member (slices), or -1 */
    int expr;                      /* node the elementwise expression computes */
    const IrType *shape;           /* its type */
    int matmul;                    /* FK_MATMUL: the matmul member; its value is read from the output */
    /* FK_GATED (fuse_gates.c): members of the product's shape ("wide": the
       product and its epilogue) are evaluated once per gate, at that gate's
       columns; a gate slice of one picks that gate's value. The product is
       read from its own buffer (leaf `scratch`) in the interleaved order of
       attn_pack_b_gates, and stored members are written to theirs. */
    int gates;                     /* gates of the product, or 0 */
    int64_t gate_width;            /* H: the expression's last dim */
    int64_t product_width;         /* gates * H */
    int scratch;                   /* leaf holding the product */
    bool wide[CG_FUSED_MAX];
    int pick[CG_FUSED_MAX];        /* per member: the gate a gate slice picks, or -1 */
    int store_leaf[CG_FUSED_MAX];  /* per member: leaf of its own buffer when it is stored, or -1 */
    LLVMValueRef product_row;      /* element index of the current row's first product element */
    /* FK_GATED whose root is also a per-step output of its scan: the root is
       written to the stacked output too (leaf `stacked`, at this step's first
       element), rows H apart (scan along axis 0) or steps*H apart (axis 1:
       `stacked_steps` is the scan's step count), instead of being copied there
       after the step. -1 / NULL when not. */
    int stacked;
    const Dim *stacked_steps;
    int naccess;
    CgAccess access[CG_FUSED_MAX * 3];
    int access_of[CG_FUSED_MAX][3]; /* per member and operand: access index, or -1 when it is a member's value */
    int view_access[CG_FUSED_MAX];  /* per member: the access a view member reads, or -1 */
    LLVMValueRef row_start;         /* reductions: flat index of the current row's first element */
} CgFused;

/* Leaf value of the stacked output a gate kernel also writes (CgFused.stacked). */
enum { CG_LEAF_STACKED = -2 };

/* Collects kernel `root` of plan p: members, leaves (in kernel operand order:
 * for a reduction, slot 0 is the fused input and 1.. the root's other
 * operands; for a matmul kernel, slots 0 and 1 are the matmul's operands).
 * `sites` gives each node's error site. False when the kernel is too big. */
bool cg_fused_collect(CgFused *f, const FusePlan *p, int root, const int *sites);

/* Whether input i of scan body g, a sequence stepped along an axis other than
 * the first, is read where it lies in the outer sequence instead of copied
 * each step: when every reader is a member of an elementwise expression
 * (a fused elementwise kernel or a product's epilogue), whose accesses then
 * stride over all steps. p is g's fusion plan. */
bool cg_fused_step_in_place(const FusePlan *p, const IrGraph *g, int i);

/* Emits the checks of view members (slice ranges) and the leaves' strides;
 * called at the start of a kernel body. The two halves: */
void cg_fused_begin(CgKernel *k);
void cg_fused_check(CgKernel *k);   /* may return an error site from k's function (an i32 one) */
void cg_fused_strides(CgKernel *k);
/* Sets each leaf's base for row `row` of the expression's shape (its last
 * dim is the row). */
void cg_fused_row(CgKernel *k, LLVMValueRef row);
/* The expression's value at index j of the current row, `lanes` wide; with a
 * mask, lanes off it read no memory (their value is unspecified). */
LLVMValueRef cg_fused_eval(CgKernel *k, LLVMValueRef j, int lanes, LLVMValueRef mask);

/* Emitters of fused kernels. */
extern const CgEmitter cg_emit_fused_elementwise;
extern const CgEmitter cg_emit_attention; /* cg_attention_node.c */
/* FK_MATMUL: the epilogue as the matmul core's hook (cg_matmul.h), over
 * rows [r0, r1) and columns [c0, c1) of product `item` of the matmul's
 * batch, in place in the output:
 *   void kN_epi(ptr arg, i64 r0, i64 r1, i64 c0, i64 c1)
 * with arg = {ctx, out, leaf 0, ..., leaf n-1, item} (8 bytes each). */
LLVMValueRef cg_fused_epilogue_fn(CgKernel *k);
/* FK_GATED: the same hook over rows [r0, r1) and packed columns [c0, c1) of
 * the product (whole groups of gates * lanes columns): computes the
 * expression for units [c0, c1) / gates and writes the root and the stored
 * members. */
LLVMValueRef cg_fused_gated_epilogue_fn(CgKernel *k);
/* FK_MATMUL_SOFTMAX: the same hook over whole rows [r0, r1) of product
 * `item` (the core is asked for whole rows): the softmax of the expression
 * over each row, in place in the output. */
LLVMValueRef cg_fused_softmax_epilogue_fn(CgKernel *k);
/* The softmax (cg_reduce.c) of fused input rows [lo, hi) of `len` elements
 * each, contiguous in k->out; the expression's strides are set. */
void cg_softmax_fused_rows(CgKernel *k, LLVMValueRef len, LLVMValueRef lo, LLVMValueRef hi);

#endif
