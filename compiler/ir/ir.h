/*
 * ir.h — the graph IR: an SSA graph of op nodes with symbolic types.
 *
 * A graph is an array of nodes in topological order; a node's operands are
 * indices of earlier nodes of the same graph. A SCAN node owns a nested body
 * graph that runs once per step; body inputs are, in order, the sequence
 * slices, the carried states and the captured outer values; body outputs are
 * the per-step outputs (stacked along the scan axis) followed by the new
 * carried states. RESULT nodes pick one output of a SCAN.
 * Every node keeps the source location it was made from.
 */
#ifndef ATTN_IR_H
#define ATTN_IR_H

#include "arena.h"
#include "diag.h"
#include "dim.h"
#include "ops.h"
#include "attn_passes.h"

/* dtype and symbolic shape of a value. */
typedef struct IrType {
    attn_dtype dtype;                  /* element type */
    int rank;                          /* number of dims */
    const Dim *dims[ATTN_MAX_RANK];    /* extent of each dim */
} IrType;

typedef struct IrGraph IrGraph;

/* Extra facts of a SCAN node. */
typedef struct IrScan {
    int nseq;      /* sequences stepped over (first operands) */
    int ncarry;    /* carried states (next operands) */
    int ncapture;  /* outer values the body reads (last operands) */
    int nyield;    /* per-step outputs (first body outputs) */
    int axis;      /* time axis of the sequences and of the stacked outputs */
    bool reverse;  /* step from the last index to the first */
    const Dim *steps; /* number of steps (the sequences' extent along axis) */
} IrScan;

typedef struct IrNode {
    OpKind op;          /* what it computes */
    IrType type;        /* its result */
    SrcLoc loc;         /* the source it came from */
    int nin;            /* number of operands */
    int *in;            /* operand node indices (same graph) */
    OpAttrs attrs;      /* compile-time attributes (axis, perm, eps, ...) */
    const Dim *start;   /* SLICE: first index (may be symbolic) */
    const char *name;   /* INPUT: input name; PARAM: full weight key */
    int index;          /* INPUT: position among the graph's inputs */
    const attn_tensor *value; /* CONST: the literal; PARAM: the bound weight (or NULL) */
    IrGraph *body;      /* SCAN: the step graph */
    IrScan scan;        /* SCAN facts */
} IrNode;

struct IrGraph {
    IrNode *nodes;      /* in topological order */
    int n, cap;         /* used and allocated */
    int *outputs;       /* node indices of the graph's results */
    const char **output_names; /* entry output names (top-level graph only) */
    int nout;
    int ninputs;        /* INPUT nodes (their index fields run 0..ninputs-1) */
    IrGraph *parent;    /* enclosing graph of a scan body, NULL at top level */
};

/* A compiled entry point: its graph and the symbols its dims use. */
typedef struct IrEntry {
    const char *name;     /* entry name */
    SrcLoc loc;           /* where it is declared */
    IrGraph *graph;       /* the top-level graph */
    int nsyms;            /* symbols bound per call from input shapes */
    const char **sym_names; /* their names */
    const char *dumps;    /* the graphs the pipeline printed after the passes asked for, or NULL */
} IrEntry;

IrGraph *ir_graph_new(Arena *ar, IrGraph *parent);
/* Appends a node; returns its index. Operands are copied. Out of memory
 * (ar->failed), the graph is only fit to be dropped (see ir.c). */
int ir_add(Arena *ar, IrGraph *g, OpKind op, const int *in, int nin, SrcLoc loc);
void ir_set_outputs(Arena *ar, IrGraph *g, const int *outs, int n);
/* The SCAN node of body->parent whose body is `body`; NULL at top level. */
const IrNode *ir_scan_of(const IrGraph *body);
/* Index of the INPUT node of `body` at position `index` among its inputs, or -1. */
int ir_body_input(const IrGraph *body, int index);
/* Opens `count` zeroed node slots at position pos of g: the nodes from pos on,
 * and every operand and output index pointing at them, move up by count.
 * False (g unchanged) when out of memory. */
bool ir_open_slots(Arena *ar, IrGraph *g, int pos, int count);

/* Textual and Graphviz dumps of an entry's graph. */
void ir_print(const IrEntry *e, StrBuf *out);
void ir_print_dot(const IrEntry *e, StrBuf *out);
/* Groups of nodes that ir_print_dot_grouped draws as clusters (fusion's
 * kernels, for one): owner(ctx, i) is the node representing node i's group,
 * or -1; body(ctx, i) the ctx of scan node i's body (NULL: no groups there). */
typedef struct IrDotGroups {
    int (*owner)(const void *ctx, int node);
    const void *(*body)(const void *ctx, int node);
} IrDotGroups;
void ir_print_dot_grouped(const IrEntry *e, const IrDotGroups *groups, const void *ctx, StrBuf *out);
/* Writes "f32[B, T, 96]" into buf. */
void ir_type_format(const IrType *t, char *buf, size_t n);

/* Graph passes; each returns the number of nodes it changed or removed. */
int pass_fold_constants(Arena *ar, IrGraph *g);  /* evaluates ops whose operands are all constants */
int pass_cse(Arena *ar, IrGraph *g);             /* merges identical nodes */
int pass_dce(Arena *ar, IrGraph *g);             /* removes nodes no output depends on */
/* Scan passes (over g and, nested, every body); each returns the number of nodes or inputs it changed. */
int pass_scan_invariant(Arena *ar, IrGraph *g); /* moves step-invariant body work before its scan */
int pass_scan_hoist(Arena *ar, IrGraph *g);     /* computes per-step input projections for all steps at once */
int pass_scan_prune(Arena *ar, IrGraph *g);     /* drops and merges scan inputs the body does not need */
/* Over g and every body: exporters' decompositions (layer norm, GELU, Kᵀ
 * read through a permute, a power-of-two scale of q) become the table's ops
 * (pass_canonical.c). */
int pass_canonicalize(Arena *ar, IrGraph *g);
/* Its rule for attention over heads merged into the batch ([B*H, L, D], as
 * nn.MultiheadAttention's export runs it): node pv, the P·V product, and
 * its chain become [B, H, L, D] (canon_heads.c); false when pv is no such
 * product. */
bool canon_split_heads(Arena *ar, IrGraph *g, int pv);
/* Over g and every body: products sharing their left operand, with weights on the right, become one. */
int pass_merge_matmuls(Arena *ar, IrGraph *g);
/* Runs the pipeline (fold, CSE, DCE, the scan passes, less those opt->skip
 * names) to a fixed point over e's graph and its bodies; the graph after each
 * pass opt->dump_after names goes to e->dumps. With opt->verify, ir_verify
 * checks the graph after lowering and after every pass: false when it finds a
 * broken invariant (diag has the internal error naming the pass), and the
 * pipeline stops there. */
bool pass_run_all(Arena *ar, IrEntry *e, const PassOptions *opt, Diag *diag);
/* The options a model starts with: every pass, no dumps, and verification
 * when the build has ATTN_VERIFY_IR (CMake option; on in the test builds). */
PassOptions pass_options_default(void);
/* Checks the invariants of docs/IR.md (§2 Invariants) over e's graph and its
 * bodies: false after reporting the first broken one as an internal error at
 * the node's source, naming the pass it was found `after` and the node. */
bool ir_verify(const IrEntry *e, const char *after, Diag *diag);
/* Computes (or, for ops their builder types, checks) the result type of node
 * `node` of g from its operands' types and its attributes; false with a
 * message in diag when they break the op's rule (ir_shape.c). */
bool shape_infer(Arena *ar, IrGraph *g, int node, Diag *diag);
/* What generating native code for g costs, against ATTN_BUDGET_CODEGEN: its
 * nodes and its scans' bodies', each scan weighing ATTN_CODEGEN_SCAN_WEIGHT more. */
long ir_codegen_cost(const IrGraph *g);

/* Editing a scan (ir_scan_edit.c). ir_scan_copy_out copies the body nodes of
 * scan si of g marked in take[] (in body order) into g just before the scan and
 * returns the scan's new index. outer_of[] (one per body node) receives the
 * outer index of every copied node, and of every sequence and capture input
 * the scan operand it stands for (-1 otherwise); operands of copied nodes must
 * be one of those. With `stacked`, copies other than CONST and PARAM get the
 * scan's time axis in their type: they compute every step at once; -1 (g
 * unchanged) when out of memory.
 * ir_scan_capture / ir_scan_sequence turn body node `node` into a new capture
 * (last) or sequence (after the others) input fed by outer node `outer`. */
int ir_scan_copy_out(Arena *ar, IrGraph *g, int si, const bool *take, bool stacked, int *outer_of);
void ir_scan_capture(Arena *ar, IrGraph *g, int si, int node, int outer);
void ir_scan_sequence(Arena *ar, IrGraph *g, int si, int node, int outer);
/* live[i] = some output of g depends on node i (live has g->n entries). */
void ir_mark_live(const IrGraph *g, bool *live);

#endif
