/*
 * ops.h — the operator set: op kinds generated from ops.def, their classes, and
 * the concrete attributes a kernel receives.
 *
 * The compiler works on symbolic shapes; by the time a kernel runs, every dim
 * and attribute is a concrete integer, collected in OpAttrs. Kernels write into
 * an output tensor that the caller has already allocated with the right shape.
 */
#ifndef ATTN_OPS_H
#define ATTN_OPS_H

#include "attn.h"
#include <stdbool.h>

#include "ops.def"

#define OP_KIND_(id, ...) OP_##id,
typedef enum OpKind {
    ATTN_OP_TABLE(OP_KIND_)
    OP_COUNT
} OpKind;

/* Shape/fusion class of an op (see ops.def). */
typedef enum OpClass {
    OC_SOURCE,  /* no tensor operands: inputs, weights, literals */
    OC_UNARY,   /* elementwise f(x), same shape (CAST changes dtype) */
    OC_BINARY,  /* elementwise f(a, b), broadcast, f32 or int result */
    OC_COMPARE, /* elementwise a ? b, broadcast, bool result */
    OC_LOGIC,   /* elementwise bool and/or, broadcast */
    OC_TERNARY, /* where(cond, a, b), broadcast of all three */
    OC_REDUCE,  /* reduction over one axis */
    OC_NORM,    /* normalisation over one axis (softmax, layer norm) */
    OC_MATMUL,  /* batched matrix product */
    OC_SHAPE,   /* data movement only */
    OC_GATHER,  /* embedding lookup */
    OC_CHECK,   /* its first operand, after a check of its values at run time */
    OC_CONTROL, /* nested subgraph */
} OpClass;

/* What one output element of an op costs (see ops.def). */
typedef enum OpCost {
    COST_PLAIN, /* arithmetic, comparisons, selects, copies */
    COST_MATH,  /* an exp/log-class function per element */
} OpCost;

/* How constant folding treats an op (see ops.def). */
typedef enum OpFold {
    FOLD_NEVER,  /* the node keeps its op: values bound or computed per call, or control flow */
    FOLD_KERNEL, /* constant operands: op_run computes the value at compile time */
    FOLD_IDS,    /* as FOLD_KERNEL when the values pass the run-time check (GATHER: every id indexes
                    the table; CHECK_LENGTHS: every length is in 1..T) */
} OpFold;

/* Concrete attributes of one op instance; unused fields are zero. */
typedef struct OpAttrs {
    int64_t axis;                /* reduce/softmax/concat/slice axis, non-negative */
    bool keepdim;                /* reductions keep the reduced axis with extent 1 */
    bool trans_a, trans_b;       /* matmul: use the transpose of the last two dims */
    double eps;                  /* layer norm epsilon */
    double fill;                 /* FULL: the value every element takes */
    int64_t perm[ATTN_MAX_RANK]; /* PERMUTE: output dim i is input dim perm[i] */
    int64_t start, step;         /* SLICE: first index and stride along axis; ARANGE: first value, step */
} OpAttrs;

/* A reference kernel: reads in[0..nin), writes out (allocated, shape set). */
typedef void (*OpKernel)(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);

/* Static description of an op, indexed by OpKind. */
typedef struct OpInfo {
    const char *id;      /* enum name without prefix, e.g. "LAYER_NORM" */
    const char *builtin; /* callable name in .attn source, or NULL */
    OpClass cls;         /* shape/fusion class */
    int min_in, max_in;  /* operand count bounds */
    const char *attrs;   /* accepted named attributes with defaults */
    OpKernel kernel;     /* reference kernel, or NULL (see ops.def) */
    OpCost cost;         /* cost of one output element */
    OpFold fold;         /* constant folding */
    double (*scalar)(double); /* the op on one float, or NULL */
} OpInfo;

extern const OpInfo op_info[OP_COUNT];

/* Lower-case name of an op for dumps: "layer_norm". */
const char *op_name(OpKind k);
/* Looks up a builtin by its source name; returns OP_COUNT when there is none. */
OpKind op_by_builtin(const char *name);
/* Runs op k on in[0..nin) into out (allocated, shape set): its kernel, or its
 * scalar function over the elements of an f32 tensor. The interpreter and
 * constant folding both run ops through here. */
void op_run(OpKind k, const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);

#endif
