/*
 * fuse.c — building the kernel graph (see fuse.h): the plan's storage, the
 * order of the passes, and the questions every pass asks (who uses a node,
 * do two values have the same shape, which nodes a kernel holds).
 */
#include "fuse.h"
#include "op_cases.h"

#include <stdlib.h>
#include <string.h>

bool fuse_slice_start(const IrNode *n, int64_t *start) {
    *start = n->attrs.start;
    return n->op == OP_SLICE && (!n->start || dim_is_const(n->start, start));
}

bool fuse_slice_view(const IrGraph *g, const IrNode *n, int64_t *offset) {
    int64_t v, len, ext, inner = 1, start;
    if (n->attrs.step != 1 || !fuse_slice_start(n, &start))
        return false;
    const IrType *t = &g->nodes[n->in[0]].type;
    int axis = (int)n->attrs.axis;
    for (int d = 0; d < axis; d++)
        if (!dim_is_const(t->dims[d], &v) || v != 1)
            return false;
    if (!dim_is_const(t->dims[axis], &ext) || !dim_is_const(n->type.dims[axis], &len) || start < 0 || start + len > ext)
        return false;
    for (int d = axis + 1; d < t->rank; d++) {
        if (!dim_is_const(t->dims[d], &v))
            return false;
        inner *= v;
    }
    *offset = start * inner;
    return true;
}

bool fuse_has_kernel(const IrGraph *g, const IrNode *n) {
    int64_t offset;
    if (fuse_slice_view(g, n, &offset))
        return false;
    switch (n->op) {
    case OP_INPUT: case OP_PARAM: case OP_CONST: case OP_RESHAPE: case OP_SCAN: case OP_RESULT:
        return false;
    case OP_ARANGE: case OP_FULL:
    OP_CASES_ELEMENTWISE
    OP_CASES_REDUCE_NORM
    case OP_MATMUL: case OP_PERMUTE: case OP_SLICE: case OP_CONCAT: case OP_EXPAND: case OP_GATHER: case OP_CHECK_LENGTHS:
        return true;
    case OP_COUNT: break;
    }
    ATTN_UNREACHABLE("op out of range");
}

bool fuse_is_elementwise(const IrNode *n) {
    switch (op_info[n->op].cls) {
    case OC_UNARY: case OC_BINARY: case OC_COMPARE: case OC_LOGIC: case OC_TERNARY:
        return true;
    case OC_SOURCE: case OC_REDUCE: case OC_NORM: case OC_MATMUL: case OC_SHAPE: case OC_GATHER: case OC_CHECK: case OC_CONTROL:
        return false;
    }
    ATTN_UNREACHABLE("op class out of range");
}

bool fuse_same_dims(const IrType *a, const IrType *b) {
    if (a->rank != b->rank)
        return false;
    for (int d = 0; d < a->rank; d++)
        if (!dim_equal(a->dims[d], b->dims[d]))
            return false;
    return true;
}

bool fuse_is_output(const IrGraph *g, int i) {
    for (int k = 0; k < g->nout; k++)
        if (g->outputs[k] == i)
            return true;
    return false;
}

int fuse_user_root(const FusePlan *p, int i) {
    const IrGraph *g = p->g;
    if (fuse_is_output(g, i))
        return -1;
    int root = -2;
    for (int j = i + 1; j < g->n; j++) {
        const IrNode *n = &g->nodes[j];
        bool uses = false;
        for (int k = 0; k < n->nin && !uses; k++)
            uses = n->in[k] == i;
        if (!uses)
            continue;
        int r = p->owner[j];
        if (r < 0 || (root != -2 && root != r))
            return -1;
        root = r;
    }
    return root < 0 ? -1 : root;
}

int fuse_leaf_count(const FusePlan *p, int root, int join) {
    const IrGraph *g = p->g;
    bool join_kernel = p->owner[join] == join;
    char *seen = calloc((size_t)g->n + 1, 1); /* 1: a member, 2: a leaf counted */
    if (!seen)
        return FUSE_MAX_LEAVES + 1; /* out of memory: do not grow the kernel */
    for (int i = 0; i <= root; i++)
        if (p->owner[i] == root || i == join || (join_kernel && p->owner[i] == join))
            seen[i] = 1;
    int count = 0;
    for (int i = 0; i <= root; i++)
        for (int k = 0; seen[i] == 1 && k < g->nodes[i].nin; k++) {
            int o = g->nodes[i].in[k];
            if (!seen[o]) {
                seen[o] = 2;
                count++;
            }
        }
    free(seen);
    return count;
}

void fuse_merge(FusePlan *p, int from, int to) {
    for (int i = 0; i < p->g->n; i++)
        if (p->owner[i] == from)
            p->owner[i] = to;
    p->kind[from] = FK_NONE;
}

int fuse_members(const FusePlan *p, int root, int *out, int cap) {
    int n = 0;
    for (int i = 0; i < p->g->n; i++)
        if (p->owner[i] == root && i != root && n < cap)
            out[n++] = i;
    if (p->owner[root] == root && n < cap)
        out[n++] = root;
    return n;
}

/* The kind of each root, from what it holds (attention roots keep theirs). */
static void classify(FusePlan *p) {
    const IrGraph *g = p->g;
    for (int r = 0; r < g->n; r++) {
        if (p->owner[r] != r) {
            p->kind[r] = FK_NONE;
            continue;
        }
        if (p->kind[r] == FK_ATTENTION)
            continue;
        bool members = false, matmul = false, gated = false;
        for (int i = 0; i < r; i++)
            if (p->owner[i] == r) {
                members = true;
                matmul |= g->nodes[i].op == OP_MATMUL;
                gated |= g->nodes[i].op == OP_MATMUL && p->stored[i];
            }
        const IrNode *n = &g->nodes[r];
        if (!members)
            p->kind[r] = FK_SINGLE;
        else if (gated)
            p->kind[r] = FK_GATED;
        else if (matmul && n->op == OP_SOFTMAX)
            p->kind[r] = FK_MATMUL_SOFTMAX;
        else if (matmul)
            p->kind[r] = FK_MATMUL;
        else if (n->op == OP_SOFTMAX || n->op == OP_LAYER_NORM)
            p->kind[r] = FK_REDUCTION;
        else
            p->kind[r] = FK_ELEMENTWISE;
    }
}

static FusePlan *plan_new(Arena *ar, const IrGraph *g, int level) {
    FusePlan *p = arena_alloc(ar, sizeof *p);
    size_t n = (size_t)(g->n ? g->n : 1);
    if (!p)
        return NULL;
    p->g = g;
    p->owner = arena_alloc(ar, n * sizeof *p->owner);
    p->kind = arena_alloc(ar, n * sizeof *p->kind);
    p->body = arena_alloc(ar, n * sizeof *p->body);
    p->attn = arena_alloc(ar, n * sizeof *p->attn);
    p->stored = arena_alloc(ar, n * sizeof *p->stored);
    p->ar = ar;
    if (!p->owner || !p->kind || !p->body || !p->attn || !p->stored)
        return NULL;
    for (int i = 0; i < g->n; i++) {
        const IrNode *nd = &g->nodes[i];
        p->owner[i] = fuse_has_kernel(g, nd) ? i : -1;
        p->kind[i] = FK_NONE;
        p->stored[i] = false;
        if (nd->op == OP_SCAN && !(p->body[i] = plan_new(ar, nd->body, level)))
            return NULL;
    }
    if (level > 0) {
        fuse_attention(p);
        fuse_elementwise(p);
        fuse_reductions(p);
        fuse_matmul_epilogues(p);
        fuse_gates(p);
    }
    classify(p);
    return p;
}

/* NULL when out of memory. */
FusePlan *fuse_plan_build(Arena *ar, const IrGraph *g, int level) { return plan_new(ar, g, level); }

const FusePlan *fuse_plan_find(const FusePlan *p, const IrGraph *g) {
    if (!p)
        return NULL;
    if (p->g == g)
        return p;
    for (int i = 0; i < p->g->n; i++) {
        const FusePlan *q = p->body[i] ? fuse_plan_find(p->body[i], g) : NULL;
        if (q)
            return q;
    }
    return NULL;
}
