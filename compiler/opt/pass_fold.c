/*
 * pass_fold.c — constant folding: nodes computable at compile time become CONSTs.
 *
 * Lowering produces many small constant subgraphs (scale factors such as
 * 1/sqrt(d), masks built with arange and comparisons, casts of literals).
 * Evaluating them once here, with the same reference kernels the interpreter
 * runs, means neither backend recomputes them per call and both see the same
 * values. What an op allows is its fold column in ops.def: a FOLD_KERNEL node
 * folds when every operand is a CONST and its shape is fully constant and
 * small (big constant tensors would bloat the program for little gain);
 * sources without operands (ARANGE, FULL) fold the same way. FOLD_IDS (GATHER)
 * also needs its ids in range, and CHECK_LENGTHS its lengths. FOLD_NEVER ops keep their nodes: PARAMs are
 * bound, or rebound, after compilation, INPUTs per call, and scan bodies are
 * folded on their own.
 */
#include "ir.h"

#include <stdlib.h>

/* Largest constant the pass creates, in elements. */
#define FOLD_MAX_ELEMENTS ((int64_t)1 << 16)

/* Fills shape[] from t's dims; false when one is symbolic or the total exceeds the cap. */
static bool const_shape(const IrType *t, int64_t *shape) {
    int64_t numel = 1;
    for (int i = 0; i < t->rank; i++) {
        if (!dim_is_const(t->dims[i], &shape[i]) || shape[i] < 0)
            return false;
        if (shape[i] > FOLD_MAX_ELEMENTS || (numel *= shape[i]) > FOLD_MAX_ELEMENTS)
            return false;
    }
    return true;
}

static bool operands_const(const IrGraph *g, const IrNode *n) {
    for (int i = 0; i < n->nin; i++) {
        const IrNode *in = &g->nodes[n->in[i]];
        if (in->op != OP_CONST || !in->value)
            return false;
    }
    return true;
}

/* The kernel's attributes: the node's, with a SLICE's start made concrete. */
static bool kernel_attrs(const IrNode *n, OpAttrs *attrs) {
    *attrs = n->attrs;
    if (n->op == OP_SLICE && n->start)
        return dim_is_const(n->start, &attrs->start);
    return true;
}

/* An arena tensor of type t and the given shape, with room for its elements; NULL when out of memory. */
static attn_tensor *new_tensor(Arena *ar, const IrType *t, const int64_t *shape) {
    attn_tensor *v = arena_alloc(ar, sizeof *v);
    if (!v)
        return NULL;
    v->dtype = t->dtype;
    v->rank = t->rank;
    for (int i = 0; i < t->rank; i++)
        v->shape[i] = shape[i];
    /* Zero-size tensors carry NULL data, as everywhere else. */
    size_t bytes = (size_t)attn_tensor_numel(v) * attn_dtype_size(t->dtype);
    if (bytes && !(v->data = arena_alloc(ar, bytes)))
        return NULL;
    return v;
}

/* Runs n's kernel on its constant operands; the result, or NULL when out of memory. */
static attn_tensor *evaluate(Arena *ar, const IrGraph *g, const IrNode *n, const OpAttrs *attrs,
                             const int64_t *shape) {
    attn_tensor *out = new_tensor(ar, &n->type, shape);
    attn_tensor *in = calloc(n->nin ? (size_t)n->nin : 1, sizeof *in);
    if (!out || !in) {
        free(in);
        return NULL;
    }
    for (int i = 0; i < n->nin; i++)
        in[i] = *g->nodes[n->in[i]].value;
    op_run(n->op, attrs, in, n->nin, out);
    free(in);
    return out;
}

/* Whether op_info's fold column lets n fold now. FOLD_IDS: what the
 * interpreter checks per call before running a kernel (check_node in interp.c)
 * must hold for a fold too, so a GATHER's ids must index the table and a
 * CHECK_LENGTHS's lengths lie in 1..T; bad values are left to the run, which
 * reports them at the node. */
static bool foldable(const IrGraph *g, const IrNode *n) {
    switch (op_info[n->op].fold) {
    case FOLD_NEVER: return false;
    case FOLD_KERNEL: return true;
    case FOLD_IDS: break;
    }
    if (n->op == OP_CHECK_LENGTHS) { /* every length in 1..T */
        const attn_tensor *len = g->nodes[n->in[0]].value, *pos = g->nodes[n->in[1]].value;
        for (int64_t i = 0; i < attn_tensor_numel(len); i++)
            if (((const int64_t *)len->data)[i] < 1 || ((const int64_t *)len->data)[i] > pos->shape[0])
                return false;
        return true;
    }
    const attn_tensor *table = g->nodes[n->in[0]].value, *ids = g->nodes[n->in[1]].value;
    int64_t rows = table->rank ? table->shape[0] : 0, cnt = attn_tensor_numel(ids);
    for (int64_t i = 0; i < cnt; i++) {
        int64_t id = ids->dtype == ATTN_I64 ? ((const int64_t *)ids->data)[i] : ((const int32_t *)ids->data)[i];
        if (id < 0 || id >= rows)
            return false;
    }
    return true;
}

/* Folds node i of g if it qualifies; true when it became a CONST. */
static bool fold_node(Arena *ar, IrGraph *g, int i) {
    IrNode *n = &g->nodes[i];
    int64_t shape[ATTN_MAX_RANK];
    OpAttrs attrs;
    if (op_info[n->op].fold == FOLD_NEVER || !operands_const(g, n) || !const_shape(&n->type, shape) ||
        !kernel_attrs(n, &attrs) || !foldable(g, n))
        return false;
    attn_tensor *value = evaluate(ar, g, n, &attrs, shape);
    if (!value)
        return false;
    n->op = OP_CONST;
    n->nin = 0;
    n->in = NULL;
    n->value = value;
    /* A CONST carries only its value and type; stale attributes would defeat CSE. */
    n->attrs = (OpAttrs){0};
    n->start = NULL;
    return true;
}

int pass_fold_constants(Arena *ar, IrGraph *g) {
    int changed = 0;
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].op == OP_SCAN && g->nodes[i].body)
            changed += pass_fold_constants(ar, g->nodes[i].body);
        else if (fold_node(ar, g, i))
            changed++;
    }
    return changed;
}
