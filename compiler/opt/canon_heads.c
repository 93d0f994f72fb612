/*
 * canon_heads.c — attention over heads merged into the batch, as PyTorch's
 * nn.MultiheadAttention export writes it, lifted to [B, H, L, D].
 *
 * The export works time-major: q, k and v are [L, B, E] slices of one
 * projection, split into heads by reshape to [L, B*H, D] and permute
 * [1, 0, 2], so that the attention runs on [B*H, L, D], and its result goes
 * back by permute [1, 0, 2] to [L, B*H, D]. B*H merges the batch with the
 * heads, which no stride view can express: the heads are copied out and
 * back. Written instead as reshape to [L, B, H, D] and permute [1, 2, 0, 3],
 * the same attention runs on [B, H, L, D] and reads q, k and v in place
 * (fuse_attention's views), and permute [2, 0, 1, 3] of its result followed
 * by a reshape to [L, B*H, D] gives the same elements back. The scores'
 * chain (scales by one-element constants, one mask added or selected by)
 * follows: the mask, [B*H, ., .] or [1, ., .], is reshaped to [B, H, ., .]
 * or [1, 1, ., .]. The math is the same; the attention core may split its
 * work differently over [B, H] than over [B*H], within rounding.
 */
#include "ir.h"

/* Number of operand slots and outputs that read node i. */
static int readers(const IrGraph *g, int i) {
    int n = 0;
    for (int u = i + 1; u < g->n; u++)
        for (int k = 0; k < g->nodes[u].nin; k++)
            n += g->nodes[u].in[k] == i;
    for (int k = 0; k < g->nout; k++)
        n += g->outputs[k] == i;
    return n;
}

static bool one_element(const IrGraph *g, int i) {
    const IrType *t = &g->nodes[i].type;
    int64_t v;
    for (int d = 0; d < t->rank; d++)
        if (!dim_is_const(t->dims[d], &v) || v != 1)
            return false;
    return g->nodes[i].op == OP_CONST;
}

static bool is_perm(const IrNode *n, int a, int b, int c) {
    return n->op == OP_PERMUTE && n->type.rank == 3 && n->attrs.perm[0] == a && n->attrs.perm[1] == b &&
           n->attrs.perm[2] == c;
}

/* The split found: batch dim b, heads h, the merged dim m = b*h. */
typedef struct Heads {
    const Dim *b, *m;
    int64_t h;
} Heads;

/* Node p is permute(reshape(x, [a, b*H, D]), [1, 0, 2]) with x [a, b, H*D]
 * (constants H, D), both read only here: fills or checks *hs (the same b, H
 * for every operand). */
static bool head_view(Arena *ar, const IrGraph *g, int p, Heads *hs) {
    const IrNode *pn = &g->nodes[p];
    if (!is_perm(pn, 1, 0, 2) || readers(g, p) != 1)
        return false;
    int r = pn->in[0];
    const IrNode *rn = &g->nodes[r];
    if (rn->op != OP_RESHAPE || rn->type.rank != 3 || readers(g, r) != 1)
        return false;
    const IrType *x = &g->nodes[rn->in[0]].type;
    int64_t e, d;
    if (x->rank != 3 || !dim_equal(x->dims[0], rn->type.dims[0]) || !dim_is_const(x->dims[2], &e) ||
        !dim_is_const(rn->type.dims[2], &d) || d <= 0 || e % d != 0 || e / d < 2)
        return false;
    if (hs->m && (hs->h != e / d || !dim_equal(hs->b, x->dims[1]) || !dim_equal(hs->m, rn->type.dims[1])))
        return false;
    DimFault fault;
    const Dim *h = dim_const(ar, e / d), *m = h ? dim_op(ar, DIM_OP_MUL, x->dims[1], h, &fault) : NULL;
    if (!m || !dim_equal(m, rn->type.dims[1]))
        return false;
    *hs = (Heads){.b = x->dims[1], .m = rn->type.dims[1], .h = e / d};
    return true;
}

/* At most this many scales and masks between the scores and the softmax. */
#define CHAIN_MAX 8

/* Fills chain[n..] and mask[n..] from node cur down to Q·Kᵀ (see
 * scores_chain); the total count, or 0 when cur does not lead there. An add
 * is followed down the operand that leads to the scores (the mask may have
 * the scores' shape too). */
static int walk_scores(const IrGraph *g, int cur, int *chain, int *mask, int n) {
    const IrNode *c = &g->nodes[cur];
    if (n == CHAIN_MAX || readers(g, cur) != 1 || c->type.rank != 3 || c->type.dtype != ATTN_F32)
        return 0;
    chain[n] = cur;
    mask[n] = -1;
    if (c->op == OP_MATMUL)
        return !c->attrs.trans_a && c->attrs.trans_b ? n + 1 : 0;
    if ((c->op == OP_MUL || c->op == OP_DIV) && one_element(g, c->in[1]))
        return walk_scores(g, c->in[0], chain, mask, n + 1);
    if (c->op == OP_MUL && one_element(g, c->in[0]))
        return walk_scores(g, c->in[1], chain, mask, n + 1);
    if (c->op == OP_WHERE && one_element(g, c->in[1])) {
        mask[n] = c->in[0];
        return walk_scores(g, c->in[2], chain, mask, n + 1);
    }
    if (c->op != OP_ADD)
        return 0;
    for (int s = 0; s < 2; s++) {
        int total = walk_scores(g, c->in[s], chain, mask, n + 1);
        if (total) {
            mask[n] = c->in[1 - s];
            return total;
        }
    }
    return 0;
}

/* The scores' chain of attention whose P·V product is node pv: the softmax,
 * then the nodes down to Q·Kᵀ (chain[n - 1]), and the index of the mask
 * operand of each (-1 for scales); the count, or 0 when it is not attention. */
static int scores_chain(const IrGraph *g, int pv, int *chain, int *mask) {
    const IrNode *m = &g->nodes[pv];
    if (m->op != OP_MATMUL || m->type.rank != 3 || m->type.dtype != ATTN_F32 || m->attrs.trans_a || m->attrs.trans_b)
        return 0;
    const IrNode *sm = &g->nodes[m->in[0]];
    if (sm->op != OP_SOFTMAX || sm->attrs.axis != 2 || readers(g, m->in[0]) != 1)
        return 0;
    chain[0] = m->in[0];
    mask[0] = -1;
    return walk_scores(g, sm->in[0], chain, mask, 1);
}

/* Whether mask node k can be reshaped to the lifted scores: one element, or
 * rank 3 with first dim the merged heads or 1. */
static bool mask_liftable(const IrGraph *g, int k, const Heads *hs) {
    const IrType *t = &g->nodes[k].type;
    int64_t one;
    if (t->rank == 0)
        return true;
    return t->rank == 3 && (dim_equal(t->dims[0], hs->m) || (dim_is_const(t->dims[0], &one) && one == 1));
}

/* [b, h, d1, d2] (or [1, 1, d1, d2] when `ones`) from rank-3 t. */
static IrType lifted(Arena *ar, const IrType *t, const Heads *hs, bool ones) {
    IrType u = {.dtype = t->dtype, .rank = 4};
    u.dims[0] = ones ? dim_const(ar, 1) : hs->b;
    u.dims[1] = ones ? u.dims[0] : dim_const(ar, hs->h);
    u.dims[2] = t->dims[1];
    u.dims[3] = t->dims[2];
    return u;
}

static void lift_view(Arena *ar, IrGraph *g, int p, const Heads *hs) {
    IrNode *pn = &g->nodes[p], *rn = &g->nodes[pn->in[0]];
    const IrType old = rn->type;
    rn->type.rank = 4;
    rn->type.dims[1] = hs->b;
    rn->type.dims[2] = dim_const(ar, hs->h);
    rn->type.dims[3] = old.dims[2];
    pn->type = lifted(ar, &pn->type, hs, false);
    pn->attrs.perm[0] = 1;
    pn->attrs.perm[1] = 2;
    pn->attrs.perm[2] = 0;
    pn->attrs.perm[3] = 3;
}

/* Puts a reshape of node `src` to type t into slot `at` (opened by ir_open_slots). */
static bool put_reshape(Arena *ar, IrGraph *g, int at, int src, IrType t) {
    int *in = arena_alloc(ar, sizeof(int));
    if (!in)
        return false;
    in[0] = src;
    g->nodes[at] = (IrNode){.op = OP_RESHAPE, .type = t, .loc = g->nodes[src].loc, .nin = 1, .in = in};
    return true;
}

/* Node pv is P·V of attention over merged heads whose only reader is
 * permute [1, 0, 2]: lifts it to [B, H, L, D] (see the top of the file). */
bool canon_split_heads(Arena *ar, IrGraph *g, int pv) {
    int chain[CHAIN_MAX], mask[CHAIN_MAX], n = scores_chain(g, pv, chain, mask);
    if (!n || readers(g, pv) != 1)
        return false;
    int out = -1;
    for (int u = pv + 1; u < g->n && out < 0; u++)
        if (g->nodes[u].nin == 1 && g->nodes[u].in[0] == pv)
            out = u;
    const IrNode *qk = &g->nodes[chain[n - 1]];
    Heads hs = {0};
    if (out < 0 || !is_perm(&g->nodes[out], 1, 0, 2) || !head_view(ar, g, qk->in[0], &hs) ||
        !head_view(ar, g, qk->in[1], &hs) || !head_view(ar, g, g->nodes[pv].in[1], &hs) ||
        !dim_equal(g->nodes[pv].type.dims[0], hs.m))
        return false;
    for (int c = 0; c < n; c++)
        if (mask[c] >= 0 && !mask_liftable(g, mask[c], &hs))
            return false;
    /* in place: the views, the chain, the product and the permute out */
    lift_view(ar, g, qk->in[0], &hs);
    lift_view(ar, g, qk->in[1], &hs);
    lift_view(ar, g, g->nodes[pv].in[1], &hs);
    for (int c = 0; c < n; c++)
        g->nodes[chain[c]].type = lifted(ar, &g->nodes[chain[c]].type, &hs, false);
    g->nodes[chain[0]].attrs.axis = 3;
    g->nodes[pv].type = lifted(ar, &g->nodes[pv].type, &hs, false);
    IrNode *o = &g->nodes[out];
    const IrType merged = o->type;
    o->type = (IrType){.dtype = merged.dtype, .rank = 4, .dims = {merged.dims[0], hs.b, dim_const(ar, hs.h), merged.dims[2]}};
    const int64_t perm[4] = {2, 0, 1, 3};
    for (int d = 0; d < 4; d++)
        o->attrs.perm[d] = perm[d];
    /* new nodes, the highest first so that the lower indices stay put: a
       reshape back to [L, B*H, D] after the permute, which its readers read
       instead, then a reshape of each mask before the node that adds it */
    if (!ir_open_slots(ar, g, out + 1, 1) || !put_reshape(ar, g, out + 1, out, merged))
        return true;
    for (int u = out + 2; u < g->n; u++)
        for (int k = 0; k < g->nodes[u].nin; k++)
            if (g->nodes[u].in[k] == out)
                g->nodes[u].in[k] = out + 1;
    for (int k = 0; k < g->nout; k++)
        if (g->outputs[k] == out)
            g->outputs[k] = out + 1;
    for (int c = 0; c < n; c++) {
        int user = chain[c], k = mask[c];
        const IrType *mt = &g->nodes[k].type;
        if (k < 0 || mt->rank == 0)
            continue;
        int64_t one;
        IrType t = lifted(ar, mt, &hs, dim_is_const(mt->dims[0], &one) && one == 1 && !dim_equal(mt->dims[0], hs.m));
        if (!ir_open_slots(ar, g, user, 1) || !put_reshape(ar, g, user, k, t))
            return true;
        IrNode *un = &g->nodes[user + 1];
        for (int j = 0; j < un->nin; j++)
            if (un->in[j] == k)
                un->in[j] = user;
    }
    return true;
}
