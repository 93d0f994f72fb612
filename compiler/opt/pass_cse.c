/*
 * pass_cse.c — common subexpression elimination: identical nodes are merged.
 *
 * Lowering inlines every function call and unrolls every loop, so the same
 * value is often built more than once: the same weight read by two layers of
 * a loop, the same literal in many places, the same transpose or mask
 * recomputed per head. Two nodes that compute the same op on the same
 * operands with the same attributes and type give the same value, so every
 * use of the later one is redirected to the earlier one; DCE then removes
 * the copy. Walking the graph in topological order makes merges cascade: once
 * two operands are merged, their users become identical too.
 *
 * CONSTs merge on equal contents and PARAMs on equal weight names. INPUTs are
 * positional and never merge; SCANs never merge (comparing bodies is not worth
 * it); a RESULT merges with another RESULT of the same scan and output. Scan
 * bodies are separate graphs and are processed on their own.
 */
#include "ir.h"
#include "op_cases.h"

#include <stdlib.h>
#include <string.h>

/* A const's contents hash only this many bytes; equality still compares all. */
#define CONST_HASH_BYTES 64

static size_t const_bytes(const attn_tensor *v) {
    return (size_t)attn_tensor_numel(v) * attn_dtype_size(v->dtype);
}

static bool mergeable(const IrNode *n) {
    switch (n->op) {
    case OP_INPUT:
    case OP_SCAN: return false;
    case OP_CONST: return n->value != NULL;
    case OP_PARAM: return n->name != NULL;
    case OP_ARANGE: case OP_FULL:
    OP_CASES_ELEMENTWISE
    OP_CASES_REDUCE_NORM
    case OP_MATMUL: case OP_RESHAPE: case OP_PERMUTE: case OP_SLICE: case OP_CONCAT: case OP_EXPAND: case OP_GATHER: case OP_CHECK_LENGTHS:
    case OP_RESULT: return true;
    case OP_COUNT: break;
    }
    ATTN_UNREACHABLE("op out of range");
}

/* ---- equality ---- */

static bool types_equal(const IrType *a, const IrType *b) {
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (!dim_equal(a->dims[i], b->dims[i]))
            return false;
    return true;
}

/* Field by field, so that padding bytes never matter; floats compare by bits
 * (a fill of -0.0 is not a fill of 0.0). */
static bool attrs_equal(const OpAttrs *a, const OpAttrs *b) {
    return a->axis == b->axis && a->keepdim == b->keepdim && a->trans_a == b->trans_a &&
           a->trans_b == b->trans_b && memcmp(&a->eps, &b->eps, sizeof a->eps) == 0 &&
           memcmp(&a->fill, &b->fill, sizeof a->fill) == 0 &&
           memcmp(a->perm, b->perm, sizeof a->perm) == 0 && a->start == b->start &&
           a->step == b->step;
}

static bool names_equal(const char *a, const char *b) {
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool values_equal(const attn_tensor *a, const attn_tensor *b) {
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    size_t bytes = const_bytes(a);
    return bytes == 0 || memcmp(a->data, b->data, bytes) == 0;
}

static bool nodes_equal(const IrNode *a, const IrNode *b) {
    if (a->op != b->op || a->nin != b->nin)
        return false;
    for (int i = 0; i < a->nin; i++)
        if (a->in[i] != b->in[i])
            return false;
    if (a->op == OP_CONST && !values_equal(a->value, b->value))
        return false;
    return types_equal(&a->type, &b->type) && attrs_equal(&a->attrs, &b->attrs) &&
           dim_equal(a->start, b->start) && names_equal(a->name, b->name);
}

/* ---- hashing (of the fields that are cheap to hash; equality decides) ---- */

static uint64_t mix(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull; /* FNV-1a */
    return h;
}

static uint64_t hash_node(const IrNode *n) {
    uint64_t h = 0xcbf29ce484222325ull;
    h = mix(h, &n->op, sizeof n->op);
    h = mix(h, &n->type.dtype, sizeof n->type.dtype);
    h = mix(h, &n->type.rank, sizeof n->type.rank);
    if (n->nin)
        h = mix(h, n->in, (size_t)n->nin * sizeof *n->in);
    if (n->name)
        h = mix(h, n->name, strlen(n->name));
    if (n->op == OP_CONST) {
        size_t bytes = const_bytes(n->value);
        if (bytes)
            h = mix(h, n->value->data, bytes < CONST_HASH_BYTES ? bytes : CONST_HASH_BYTES);
    }
    return h;
}

/* ---- the pass ---- */

/* Open-addressing set of node indices (stored +1; 0 is an empty slot). */
typedef struct Seen {
    int *slot;
    size_t mask;
} Seen;

/* The earlier node equal to node i, or i itself after recording it. */
static int find_or_add(Seen *s, const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    for (size_t k = hash_node(n) & s->mask;; k = (k + 1) & s->mask) {
        if (!s->slot[k]) {
            s->slot[k] = i + 1;
            return i;
        }
        if (nodes_equal(&g->nodes[s->slot[k] - 1], n))
            return s->slot[k] - 1;
    }
}

/* Points every operand of n at its survivor; true when one changed. */
static bool redirect(IrNode *n, const int *survivor) {
    bool changed = false;
    for (int k = 0; k < n->nin; k++) {
        changed |= survivor[n->in[k]] != n->in[k];
        n->in[k] = survivor[n->in[k]];
    }
    return changed;
}

/* Merges within g itself; counts the nodes and outputs that were redirected. */
static int cse_graph(IrGraph *g, int *survivor, Seen *seen) {
    int changed = 0;
    for (int i = 0; i < g->n; i++) {
        changed += redirect(&g->nodes[i], survivor);
        survivor[i] = mergeable(&g->nodes[i]) ? find_or_add(seen, g, i) : i;
    }
    for (int k = 0; k < g->nout; k++) {
        changed += survivor[g->outputs[k]] != g->outputs[k];
        g->outputs[k] = survivor[g->outputs[k]];
    }
    return changed;
}

int pass_cse(Arena *ar, IrGraph *g) {
    int changed = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_SCAN && g->nodes[i].body)
            changed += pass_cse(ar, g->nodes[i].body);
    if (g->n == 0)
        return changed;
    size_t cap = 1;
    while (cap < 2 * (size_t)g->n) /* at most half full: probes stay short and always end */
        cap *= 2;
    Seen seen = {calloc(cap, sizeof(int)), cap - 1};
    int *survivor = malloc((size_t)g->n * sizeof(int));
    if (seen.slot && survivor) /* out of memory: leave the graph as it is */
        changed += cse_graph(g, survivor, &seen);
    free(seen.slot);
    free(survivor);
    return changed;
}
