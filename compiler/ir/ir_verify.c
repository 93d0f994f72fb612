/*
 * ir_verify.c — checking a graph against the invariants of docs/IR.md.
 *
 * Lowering builds graphs and the passes rewrite them; the interpreter, fusion
 * and code generation read them trusting the invariants IR.md lists (operands
 * defined before their users, operand counts of ops.def, types that follow the
 * ops' shape rules, scan bodies whose inputs and outputs match their scan...).
 * A pass that breaks one would show as a wrong result or a crash far from its
 * cause; ir_verify, run after every pass in the test builds and on
 * `--verify-ir` (pass_pipeline.c), names the pass and the node instead.
 *
 * Checks go in an order that keeps later ones safe: a node's operands are
 * checked to be earlier nodes before their types are read, a body is checked
 * as a graph before its inputs and outputs are matched against its scan.
 */
#include "ir.h"
#include "text.h"
#include "op_cases.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The scan whose body is being checked, innermost first. */
typedef struct Within {
    int scan;                   /* its node index */
    const struct Within *outer; /* the scan around it, or NULL */
} Within;

/* One verification: where it stands, and a scratch arena for rechecking types. */
typedef struct Verify {
    const IrEntry *e;
    const char *after;     /* the pass the graph comes from */
    Diag *diag;
    const Within *within;  /* NULL at top level */
    Arena scratch;         /* the graphs that recheck shape rules */
    IrNode *nodes;         /* ... their nodes: a node's operands, then the node */
    int *in;               /* ... the operands of the node: 0, 1, 2, ... */
    int room;              /* ... nodes and operands allocated */
    Diag rule;             /* messages of those rechecks */
} Verify;

/* Reports that node i of g breaks an invariant; returns false. */
__attribute__((format(printf, 4, 5)))
static bool broken(Verify *v, const IrGraph *g, int i, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    StrBuf where = {0};
    for (const Within *w = v->within; w; w = w->outer)
        sb_printf(&where, " in the body of scan %%%d", w->scan);
    SrcLoc loc = i >= 0 ? g->nodes[i].loc : v->e->loc;
    if (i >= 0)
        diag_internal_at(v->diag, loc, "invalid graph IR after pass %s: entry '%s'%s, node %%%d (%s): %s", v->after,
                         v->e->name, sb_str(&where), i, op_name(g->nodes[i].op), msg);
    else
        diag_internal_at(v->diag, loc, "invalid graph IR after pass %s: entry '%s'%s: %s", v->after, v->e->name,
                         sb_str(&where), msg);
    sb_free(&where);
    return false;
}

static bool type_equal(const IrType *a, const IrType *b) {
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int d = 0; d < a->rank; d++)
        if (!dim_equal(a->dims[d], b->dims[d]))
            return false;
    return true;
}

/* "f32[B, 4] (expected f32[B, 6])" into buf. */
static const char *two_types(const IrType *got, const IrType *want, char *buf, size_t n) {
    char a[160], b[160];
    ir_type_format(got, a, sizeof a);
    ir_type_format(want, b, sizeof b);
    snprintf(buf, n, "%s, expected %s", a, b);
    return buf;
}

/* A type of a known dtype and a rank within ATTN_MAX_RANK, every dim set. */
static bool type_ok(Verify *v, const IrGraph *g, int i) {
    const IrType *t = &g->nodes[i].type;
    if (t->dtype != ATTN_F32 && t->dtype != ATTN_I32 && t->dtype != ATTN_I64 && t->dtype != ATTN_BOOL)
        return broken(v, g, i, "its type has no valid dtype (%d)", (int)t->dtype);
    if (t->rank < 0 || t->rank > ATTN_MAX_RANK)
        return broken(v, g, i, "its type has rank %d, outside 0..%d", t->rank, ATTN_MAX_RANK);
    for (int d = 0; d < t->rank; d++)
        if (!t->dims[d])
            return broken(v, g, i, "dim %d of its type is not set", d);
    return true;
}

/* The node's op is in the table, its operand count within the op's bounds,
 * every operand an earlier node of the same graph, and a SCAN read only by RESULTs. */
static bool operands_ok(Verify *v, const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    if ((unsigned)n->op >= OP_COUNT)
        return broken(v, g, -1, "node %%%d has op %d, not an op of ops.def", i, (int)n->op);
    const OpInfo *info = &op_info[n->op];
    if (n->nin < info->min_in || n->nin > info->max_in)
        return broken(v, g, i, "%d operands, outside the op's %d..%d", n->nin, info->min_in, info->max_in);
    if (n->nin > 0 && !n->in)
        return broken(v, g, i, "%d operands but no operand array", n->nin);
    for (int k = 0; k < n->nin; k++) {
        int a = n->in[k];
        if (a < 0 || a >= i)
            return broken(v, g, i, "operand %d is %%%d, not a node defined before it", k, a);
        bool reads_scan = g->nodes[a].op == OP_SCAN;
        if (reads_scan != (n->op == OP_RESULT))
            return broken(v, g, i, n->op == OP_RESULT ? "its operand %%%d is not a scan" :
                                                       "operand %d is scan %%%d, which only a result may read",
                          n->op == OP_RESULT ? a : k, a);
    }
    return true;
}

/* A CONST's (or a bound PARAM's) value has the node's dtype and shape. */
static bool value_ok(Verify *v, const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    const attn_tensor *t = n->value;
    if (!t)
        return n->op == OP_PARAM || broken(v, g, i, "a constant without a value");
    bool same = t->dtype == n->type.dtype && t->rank == n->type.rank;
    for (int d = 0; same && d < t->rank; d++) {
        int64_t extent;
        same = dim_is_const(n->type.dims[d], &extent) && extent == t->shape[d];
    }
    if (!same) {
        char shape[160];
        attn_shape_text(t, shape, sizeof shape);
        char type[160];
        ir_type_format(&n->type, type, sizeof type);
        return broken(v, g, i, "its value is %s%s, its type %s", attn_dtype_name(t->dtype), shape, type);
    }
    return true;
}

/* Room for a scratch graph of n nodes in v; false when out of memory. */
static bool scratch_room(Verify *v, int n) {
    if (n <= v->room)
        return true;
    int room = n > 2 * v->room ? n : 2 * v->room;
    IrNode *nodes = arena_alloc(&v->scratch, sizeof(IrNode) * (size_t)room);
    int *in = arena_alloc(&v->scratch, sizeof(int) * (size_t)room);
    if (!nodes || !in)
        return false;
    for (int k = 0; k < room; k++)
        in[k] = k;
    v->nodes = nodes, v->in = in, v->room = room;
    return true;
}

/* Recomputes the type of node i with the op's shape rule (ir_shape.c) on a copy
 * of the node whose operands are inputs of its operands' types. */
static bool rule_ok(Verify *v, const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    if (!scratch_room(v, n->nin + 1))
        return true; /* out of memory: the node cannot be rechecked, which is no fault of it */
    for (int k = 0; k < n->nin; k++)
        v->nodes[k] = (IrNode){.op = OP_INPUT, .type = g->nodes[n->in[k]].type, .loc = n->loc, .index = k};
    IrNode *copy = &v->nodes[n->nin];
    *copy = *n; /* with the builder's type, for the ops a builder types */
    copy->in = v->in;
    IrGraph s = {.nodes = v->nodes, .n = n->nin + 1, .cap = v->room, .ninputs = n->nin};
    diag_clear(&v->rule);
    if (!shape_infer(&v->scratch, &s, n->nin, &v->rule)) {
        const char *text = diag_text(&v->rule);
        const char *body = strstr(text, "error: ");
        return broken(v, g, i, "its operands break the op's shape rule: %.*s", (int)strcspn(body ? body + 7 : text, "\n"),
                      body ? body + 7 : text);
    }
    char types[400];
    if (!type_equal(&copy->type, &n->type))
        return broken(v, g, i, "its type is %s by the op's shape rule", two_types(&n->type, &copy->type, types, sizeof types));
    return true;
}

/* The ops whose type their builder chooses: what the shape rules do not check. */
static bool built_type_ok(Verify *v, const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    const IrType *a = n->nin ? &g->nodes[n->in[0]].type : NULL;
    switch (n->op) {
    case OP_SLICE:
        if (!n->start)
            return broken(v, g, i, "a slice without a start");
        if (n->attrs.axis < 0 || n->attrs.axis >= a->rank || n->attrs.step < 1)
            return broken(v, g, i, "axis %lld and step %lld for an operand of rank %d", (long long)n->attrs.axis,
                          (long long)n->attrs.step, a->rank);
        if (n->type.dtype != a->dtype || n->type.rank != a->rank)
            return broken(v, g, i, "a slice changes the dtype or the rank");
        for (int d = 0; d < a->rank; d++)
            if (d != n->attrs.axis && !dim_equal(n->type.dims[d], a->dims[d]))
                return broken(v, g, i, "a slice along axis %lld changes dim %d", (long long)n->attrs.axis, d);
        return true;
    case OP_RESHAPE:
    case OP_EXPAND:
        if (n->type.dtype != a->dtype)
            return broken(v, g, i, "changes the dtype of its operand");
        if (n->op == OP_EXPAND && n->type.rank < a->rank)
            return broken(v, g, i, "expands rank %d to rank %d", a->rank, n->type.rank);
        return true;
    case OP_INPUT:
    case OP_PARAM:
        if (!n->name && (n->op == OP_PARAM || !g->parent))
            return broken(v, g, i, "no name");
        return n->op == OP_INPUT || value_ok(v, g, i);
    case OP_CONST:
        return value_ok(v, g, i);
    case OP_ARANGE: case OP_FULL:
    OP_CASES_ELEMENTWISE
    OP_CASES_REDUCE_NORM
    case OP_MATMUL: case OP_PERMUTE: case OP_CONCAT: case OP_GATHER: case OP_CHECK_LENGTHS: case OP_SCAN: case OP_RESULT:
        return true; /* the shape rules check these */
    case OP_COUNT: break;
    }
    ATTN_UNREACHABLE("op out of range");
}

static bool graph_ok(Verify *v, const IrGraph *g);

/* The type `seq` has at each step of a scan over `axis`: that axis removed. */
static IrType step_type(const IrType *seq, int axis) {
    IrType t = {.dtype = seq->dtype, .rank = seq->rank - 1};
    for (int d = 0, k = 0; d < seq->rank; d++)
        if (d != axis)
            t.dims[k++] = seq->dims[d];
    return t;
}

/* Body input `pos` of scan si has type `want` (what operand k of the scan gives it). */
static bool body_input_ok(Verify *v, const IrGraph *g, int si, int pos, const IrType *want, const char *what) {
    const IrGraph *body = g->nodes[si].body;
    int b = ir_body_input(body, pos);
    char types[400];
    if (!type_equal(&body->nodes[b].type, want))
        return broken(v, g, si, "body input %d (%s) is %s", pos, what,
                      two_types(&body->nodes[b].type, want, types, sizeof types));
    return true;
}

/* The counts and types of a scan's operands, body inputs and body outputs agree. */
static bool scan_signature_ok(Verify *v, const IrGraph *g, int si) {
    const IrNode *n = &g->nodes[si];
    const IrScan *sc = &n->scan;
    const IrGraph *body = n->body;
    if (sc->nseq < 1 || sc->ncarry < 0 || sc->ncapture < 0 || sc->nyield < 0 ||
        sc->nseq + sc->ncarry + sc->ncapture != n->nin)
        return broken(v, g, si, "%d operands for %d sequences, %d carries and %d captures (at least one sequence)",
                      n->nin, sc->nseq, sc->ncarry, sc->ncapture);
    if (body->ninputs != n->nin || body->nout != sc->nyield + sc->ncarry)
        return broken(v, g, si, "its body has %d inputs and %d outputs, the scan %d operands, %d yields and %d carries",
                      body->ninputs, body->nout, n->nin, sc->nyield, sc->ncarry);
    if (!sc->steps)
        return broken(v, g, si, "no step count");
    for (int k = 0; k < sc->nseq; k++) {
        const IrType *seq = &g->nodes[n->in[k]].type;
        if (sc->axis < 0 || sc->axis >= seq->rank || !dim_equal(seq->dims[sc->axis], sc->steps))
            return broken(v, g, si, "sequence %d (%%%d) does not have the scan's steps along axis %d", k, n->in[k],
                          sc->axis);
        IrType t = step_type(seq, sc->axis);
        if (!body_input_ok(v, g, si, k, &t, "a sequence's step"))
            return false;
    }
    for (int k = sc->nseq; k < n->nin; k++)
        if (!body_input_ok(v, g, si, k, &g->nodes[n->in[k]].type, k < sc->nseq + sc->ncarry ? "a carry" : "a capture"))
            return false;
    char types[400];
    for (int c = 0; c < sc->ncarry; c++) {
        const IrType *start = &g->nodes[n->in[sc->nseq + c]].type;
        const IrType *next = &body->nodes[body->outputs[sc->nyield + c]].type;
        if (!type_equal(next, start))
            return broken(v, g, si, "the new value of carry %d is %s", c, two_types(next, start, types, sizeof types));
    }
    return true;
}

/* A scan: its body a valid graph of its own whose signature matches the scan. */
static bool scan_ok(Verify *v, const IrGraph *g, int si) {
    const IrNode *n = &g->nodes[si];
    if (!n->body || n->body->parent != g)
        return broken(v, g, si, n->body ? "its body's parent is another graph" : "no body");
    Within w = {si, v->within};
    v->within = &w;
    bool ok = graph_ok(v, n->body);
    v->within = w.outer;
    return ok && scan_signature_ok(v, g, si);
}

/* A RESULT: output attrs.axis of its scan, typed as that output. */
static bool result_ok(Verify *v, const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    const IrNode *scan = &g->nodes[n->in[0]];
    const IrScan *sc = &scan->scan;
    int64_t k = n->attrs.axis;
    if (k < 0 || k >= sc->nyield + sc->ncarry)
        return broken(v, g, i, "output %lld of a scan with %d", (long long)k, sc->nyield + sc->ncarry);
    IrType want = scan->body->nodes[scan->body->outputs[k]].type;
    if (k < sc->nyield) { /* the yields of every step, stacked along the scan's axis */
        if (want.rank >= ATTN_MAX_RANK || sc->axis > want.rank)
            return broken(v, g, i, "the scan's yield %lld cannot be stacked along axis %d", (long long)k, sc->axis);
        memmove(&want.dims[sc->axis + 1], &want.dims[sc->axis], sizeof(Dim *) * (size_t)(want.rank - sc->axis));
        want.dims[sc->axis] = sc->steps;
        want.rank++;
    }
    char types[400];
    if (!type_equal(&n->type, &want))
        return broken(v, g, i, "its type is %s", two_types(&n->type, &want, types, sizeof types));
    return true;
}

static bool node_ok(Verify *v, const IrGraph *g, int i) {
    if (!operands_ok(v, g, i))
        return false;
    const IrNode *n = &g->nodes[i];
    if (n->op == OP_SCAN)
        return scan_ok(v, g, i);
    if (!type_ok(v, g, i) || !built_type_ok(v, g, i))
        return false;
    if (n->op == OP_RESULT)
        return result_ok(v, g, i);
    return op_info[n->op].cls == OC_SOURCE || rule_ok(v, g, i);
}

/* INPUT nodes hold the positions 0 .. ninputs-1, each once. */
static bool inputs_ok(Verify *v, const IrGraph *g) {
    if (g->ninputs < 0)
        return broken(v, g, -1, "%d inputs", g->ninputs);
    bool *seen = arena_alloc(&v->scratch, (size_t)g->ninputs + 1);
    if (!seen)
        return true; /* out of memory: the inputs cannot be checked */
    int count = 0;
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].op != OP_INPUT)
            continue;
        int pos = g->nodes[i].index;
        if (pos < 0 || pos >= g->ninputs || seen[pos])
            return broken(v, g, i, "input position %d is %s", pos,
                          pos < 0 || pos >= g->ninputs ? "outside the graph's inputs" : "taken by an earlier input");
        seen[pos] = true;
        count++;
    }
    if (count != g->ninputs)
        return broken(v, g, -1, "%d input nodes for %d inputs", count, g->ninputs);
    return true;
}

/* The outputs are nodes of g with a value (not scans); at top level, named. */
static bool outputs_ok(Verify *v, const IrGraph *g) {
    if (g->nout < 0 || (g->nout > 0 && !g->outputs))
        return broken(v, g, -1, "%d outputs%s", g->nout, g->nout > 0 ? " but no output array" : "");
    for (int k = 0; k < g->nout; k++) {
        int o = g->outputs[k];
        if (o < 0 || o >= g->n || g->nodes[o].op == OP_SCAN)
            return broken(v, g, -1, "output %d is %%%d, not a node with a value", k, o);
        if (!g->parent && (!g->output_names || !g->output_names[k]))
            return broken(v, g, -1, "output %d has no name", k);
    }
    return true;
}

static bool graph_ok(Verify *v, const IrGraph *g) {
    if (g->n < 0 || g->n > g->cap || (g->n > 0 && !g->nodes))
        return broken(v, g, -1, "%d nodes in room for %d", g->n, g->cap);
    for (int i = 0; i < g->n; i++)
        if (!node_ok(v, g, i))
            return false;
    return inputs_ok(v, g) && outputs_ok(v, g);
}

bool ir_verify(const IrEntry *e, const char *after, Diag *diag) {
    Verify v = {.e = e, .after = after, .diag = diag};
    bool ok;
    if (!e->graph || e->graph->parent)
        ok = broken(&v, &(IrGraph){0}, -1, e->graph ? "the entry's graph has a parent" : "no graph");
    else
        ok = graph_ok(&v, e->graph);
    arena_free(&v.scratch);
    diag_free(&v.rule);
    return ok;
}
