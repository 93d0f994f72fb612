/*
 * onnx_imp.h — the ONNX importer's working state, shared by its files.
 *
 * The importer reads a model with the protobuf-c parser generated from the
 * system's onnx.proto (onnx_read.c), then walks the graph's nodes in their
 * (topological) order and writes each as a statement of .attn source
 * (onnx_emit.c, onnx_ops_*.c). Every ONNX value becomes a Val: a variable of
 * the source, or a value known at import time (a constant, an initializer,
 * or a shape computed from the inputs' dims), which is folded into the
 * statements that use it. Dims are products of symbols (onnx_dim.c), so the
 * shape arithmetic exporters write (Shape → Gather → Concat → Reshape) comes
 * out as `reshape(x, [B, T, 12, 64])`.
 *
 * All memory but the result lives in one arena; errors longjmp to the import
 * call, which frees everything (imp_fail), so the many checks stay one line.
 */
#ifndef ATTN_ONNX_IMP_H
#define ATTN_ONNX_IMP_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attn.h"
#include "attn_limits.h"
#include "onnx.pb-c.h"
#include "onnx_import.h"

/* ---- arena ---- */
typedef struct ImpBlock ImpBlock;
typedef struct Imp Imp;

void *imp_alloc(Imp *im, size_t n);
void imp_free_arena(Imp *im);                 /* zeroed; fails the import when out of memory */
char *imp_strdup(Imp *im, const char *s);
char *imp_fmt(Imp *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- growing text ---- */
typedef struct {
    char *s;
    size_t len, cap;
} ImpText;
void imp_put(Imp *im, ImpText *t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- symbolic dims ----
 * A dim is c × a1 × a2 × ... over atoms: the entry's per-call symbols and
 * opaque sums ("T+1"), kept sorted so that equal products compare equal. */
typedef struct {
    int64_t c;
    int n;
    int atom[ATTN_LIMIT_ONNX_DIM_ATOMS];
} Dim;

Dim odim_const(int64_t c);
Dim odim_atom(int atom);
bool odim_is_const(Dim d);
bool odim_eq(Dim a, Dim b);
Dim odim_mul(Imp *im, Dim a, Dim b);
Dim odim_add(Imp *im, Dim a, Dim b);
Dim odim_sub(Imp *im, Dim a, Dim b);
/* a / b exactly (the product cancels); otherwise an opaque atom "(a)//(b)" */
Dim odim_div(Imp *im, Dim a, Dim b);
bool odim_divides(Dim a, Dim b); /* does b divide a exactly */
/* The dim as .attn source ("B*T*12"). */
const char *odim_text(Imp *im, Dim d);
int imp_atom(Imp *im, const char *text); /* interns an atom's source text */

/* ---- values ---- */
typedef struct Val {
    const char *onnx;      /* the ONNX name */
    const char *var;       /* its variable in the source; NULL until it is one */
    attn_dtype dt;
    int rank;
    Dim dim[ATTN_MAX_RANK];
    /* known at import time (then var may still be NULL): */
    Dim *ival;             /* integer and bool elements (symbolic or constant) */
    float *fval;           /* f32 elements */
    const char *sexpr;     /* an f32 scalar computed from dims: "sqrt(T)" */
    bool used;             /* referenced by a statement (for inputs whose value was given) */
    bool nonneg;           /* integers known to be >= 0 (an arange), e.g. ids needing no wrap */
} Val;

int64_t val_numel(Imp *im, const Val *v);  /* fails when a dim is symbolic */
bool val_known(const Val *v);
/* The constant integer element i (fails naming `what` when it is symbolic). */
int64_t val_int(Imp *im, const Val *v, int64_t i, const char *what);

/* ---- the importer ---- */
struct Imp {
    jmp_buf fail;
    char *err;
    ImpBlock *blocks;
    const char *path;          /* as given, for messages */
    char *dir;                 /* the model's directory, real path, for external data */
    Onnx__ModelProto *model;
    int64_t opset;             /* of the default domain */
    const Onnx__NodeProto *node; /* being imported, for messages */
    int node_index;
    /* values by ONNX name */
    Val **vals;
    size_t nvals, capvals;
    /* names in use in the source */
    bool recurrent;            /* the graph has a GRU, LSTM or RNN: their scan bodies' names are taken */
    char **names;
    size_t nnames, capnames;
    /* atoms of dims */
    char **atoms;
    char **atom_src;           /* the dim_param an atom stands for, or NULL */
    int natoms;
    /* source text */
    ImpText head, params, body;
    const char *scope;         /* the exporter scope whose block is open */
    const char *want_scope;    /* the scope of the node being imported */
    /* variable names kept for the graph's outputs */
    const char **out_onnx, **out_var;
    bool *out_taken;
    int nouts;
    /* the result being built */
    attn_onnx_import *res;
    int capweights;
    const attn_tensor *known;  /* values given for graph inputs */
    int nknown;
};

_Noreturn void imp_fail(Imp *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, with the node being imported named: "node 3 'name' (MatMul): ..." */
_Noreturn void imp_node_fail(Imp *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

Val *imp_find(Imp *im, const char *onnx);  /* NULL when unknown */
Val *imp_new_val(Imp *im, const char *onnx, attn_dtype dt, int rank, const Dim *dims);
const char *imp_name(Imp *im, const char *hint); /* a fresh, valid variable name from an ONNX name */
const char *imp_dtype_attn(attn_dtype dt);       /* "f32" */
attn_dtype imp_dtype_of_onnx(Imp *im, int32_t onnx_type, const char *what);
const char *imp_onnx_type_name(int32_t onnx_type);

/* Reads TensorProto t (an initializer, a Constant's value, a test tensor)
 * into a Val named `name`: checked against its dims, raw or typed data,
 * external data inside the model's directory only. */
void imp_check_wire(Imp *im, const uint8_t *data, size_t len); /* nesting, before protobuf-c parses */
Val *imp_tensor_val(Imp *im, const Onnx__TensorProto *t, const char *name);
/* The same into an attn_tensor whose data is in the arena. */
void imp_tensor_read(Imp *im, const Onnx__TensorProto *t, const char *what, attn_tensor *out);

/* ---- emitting ---- */
/* The source text of v as an operand: its variable, a literal for a known
 * scalar, or a weight declared for a known tensor. */
const char *imp_ref(Imp *im, Val *v);
/* The same in an elementwise op whose result has rank out_rank: a known value
 * of one element and rank <= out_rank is written as a literal. */
const char *imp_ref_bc(Imp *im, Val *v, int out_rank);
/* The same, never a literal: a tensor (a weight when it is known). */
const char *imp_ref_tensor(Imp *im, Val *v);
/* A statement `var = <fmt...>` for output `onnx`, typed dt[dims]. */
Val *imp_emit(Imp *im, const char *onnx, attn_dtype dt, int rank, const Dim *dims, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* A variable for output `onnx`, typed dt[dims], assigned by a statement of imp_stmt. */
Val *imp_bind(Imp *im, const char *onnx, attn_dtype dt, int rank, const Dim *dims);
void imp_enter_scope(Imp *im, const char *scope);
void imp_stmt(Imp *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* f as a number of .attn source ("1.0e-05", "(-2.5)", "inf"); NULL for NaN. */
const char *imp_float_lit(Imp *im, float f);
/* The dims as a list "[B, T, 768]". */
const char *imp_dims_text(Imp *im, int rank, const Dim *dims);

/* ---- ops ---- */
typedef struct {
    const Onnx__NodeProto *n;
    Val *in[ATTN_LIMIT_ONNX_NODE_IO]; /* NULL for an absent optional input */
    int nin;
    int nout;
} ImpNode;

typedef void (*ImpOpFn)(Imp *im, ImpNode *nd);

typedef struct {
    const char *op;
    ImpOpFn fn;
    int min_in, max_in, min_out, max_out;
    const char *attrs;   /* the attributes it reads, space-separated */
    int since;           /* first opset whose signature this row handles */
} ImpOp;

extern const ImpOp imp_ops_elementwise[], imp_ops_shape[], imp_ops_nn[], imp_ops_rnn[], imp_ops_act[];
const ImpOp *imp_op_lookup(const char *op);

/* attributes */
const Onnx__AttributeProto *imp_attr(const ImpNode *nd, const char *name);
int64_t imp_attr_int(Imp *im, const ImpNode *nd, const char *name, int64_t dflt);
float imp_attr_float(Imp *im, const ImpNode *nd, const char *name, float dflt);
const char *imp_attr_str(Imp *im, const ImpNode *nd, const char *name, const char *dflt);
/* the ints attribute; *n = -1 when absent */
const int64_t *imp_attr_ints(Imp *im, const ImpNode *nd, const char *name, int *n);
/* an axis in [-rank, rank) made non-negative */
int imp_axis(Imp *im, int64_t axis, int rank, const char *what);
/* output i of the node, "" when not used */
const char *imp_out(const ImpNode *nd, int i);
/* broadcast of two shapes (NumPy rules; fails naming the op) */
int imp_broadcast(Imp *im, int ra, const Dim *a, int rb, const Dim *b, Dim *out);
/* the input's integer values, which must be known (a shape, axes...) */
const Val *imp_need_known(Imp *im, const ImpNode *nd, int i, const char *what);
void imp_need_dtype(Imp *im, const Val *v, const char *what, unsigned mask);
#define DT_BIT(dt) (1u << (dt))

#endif
