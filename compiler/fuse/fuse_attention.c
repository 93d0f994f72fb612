/*
 * fuse_attention.c — recognises attention in the graph and makes it one
 * kernel that never stores the L×S scores (flash-attention style).
 *
 * The pattern, read backwards from a matmul P·V:
 *   P = softmax(X) over the last axis, used only by this matmul;
 *   X = a chain of: where(mask, -inf, ·) or · + mask (at most one mask, the
 *       outermost), then · * c and · / c by scalar constants, and at most
 *       one · * s or · / s by a one-element value s computed per call;
 *   the chain starts at Q·Kᵀ (a matmul with a transposed right operand).
 * Every node of the chain must be used only by the next one: if a model also
 * returns the attention weights, they have to be stored and nothing fuses.
 * This is the math of `std/attention.attn` and of any model that writes
 * softmax(q @ k.T / √d + mask) @ v itself.
 */
#include "fuse.h"

#include <math.h>

/* The f32 value of a one-element constant. */
static bool scalar_const(const IrNode *n, float *v) {
    if (n->op != OP_CONST || !n->value || n->value->dtype != ATTN_F32 || attn_tensor_numel(n->value) != 1 ||
        !n->value->data)
        return false;
    *v = *(const float *)n->value->data;
    return true;
}

/* Whether n is an f32 value of one element (every dim the constant 1). */
static bool one_element(const IrNode *n) {
    int64_t v;
    for (int d = 0; d < n->type.rank; d++)
        if (!dim_is_const(n->type.dims[d], &v) || v != 1)
            return false;
    return n->type.dtype == ATTN_F32;
}

/* Whether n is a constant whose every element is -inf. */
static bool minus_inf(const IrNode *n) {
    if (n->op != OP_CONST || !n->value || n->value->dtype != ATTN_F32 || !n->value->data)
        return false;
    const float *d = n->value->data;
    for (int64_t i = 0; i < attn_tensor_numel(n->value); i++)
        if (!(isinf(d[i]) && d[i] < 0))
            return false;
    return true;
}

/* Node i is used once, by `user`, and is not an output. */
static bool only_user(const FusePlan *p, int i, int user) { return fuse_user_root(p, i) == user && p->owner[user] == user; }

/* Fills a from the chain under softmax input x; false when it is not attention. */
static bool match_chain(const FusePlan *p, int x, int softmax, FuseAttention *a) {
    const IrGraph *g = p->g;
    int cur = x, user = softmax;
    bool scaled = false;
    a->mask = -1;
    a->scale = 1.0f;
    a->scale_node = -1;
    for (;;) {
        const IrNode *n = &g->nodes[cur];
        if (!only_user(p, cur, user) || n->type.dtype != ATTN_F32)
            return false;
        int next = -1;
        float c;
        if (n->op == OP_MATMUL) {
            if (n->attrs.trans_a || !n->attrs.trans_b || n->type.rank < 2 || n->type.rank > 4)
                return false;
            a->scores = cur;
            a->q = n->in[0];
            a->k = n->in[1];
            return true;
        } else if (n->op == OP_WHERE && a->mask < 0 && !scaled && minus_inf(&g->nodes[n->in[1]]) &&
                   g->nodes[n->in[0]].type.dtype == ATTN_BOOL) {
            a->mask = n->in[0];
            a->additive = false;
            next = n->in[2];
        } else if (n->op == OP_ADD && a->mask < 0 && !scaled) {
            int side = fuse_same_dims(&g->nodes[n->in[0]].type, &n->type) ? 0 : 1;
            a->mask = n->in[1 - side];
            a->additive = true;
            next = n->in[side];
            if (g->nodes[a->mask].type.dtype != ATTN_F32 || !fuse_same_dims(&g->nodes[next].type, &n->type))
                return false;
        } else if (n->op == OP_MUL && (scalar_const(&g->nodes[n->in[1]], &c) || scalar_const(&g->nodes[n->in[0]], &c))) {
            next = scalar_const(&g->nodes[n->in[1]], &c) ? n->in[0] : n->in[1];
            a->scale *= c;
            scaled = true;
        } else if (n->op == OP_DIV && scalar_const(&g->nodes[n->in[1]], &c)) {
            next = n->in[0];
            a->scale /= c;
            scaled = true;
        } else if ((n->op == OP_DIV || n->op == OP_MUL) && a->scale_node < 0 && one_element(&g->nodes[n->in[1]]) &&
                   !one_element(&g->nodes[n->in[0]])) {
            /* a scale computed per call, e.g. 1/sqrt(d) for a head size d known only then */
            next = n->in[0];
            a->scale_node = n->in[1];
            a->scale_divides = n->op == OP_DIV;
            scaled = true;
        } else
            return false;
        if (!fuse_same_dims(&g->nodes[next].type, &n->type))
            return false;
        user = cur;
        cur = next;
    }
}

/* ---- q, k, v read through views ---- */

static bool is_view_op(const IrNode *n) {
    int64_t s;
    return n->op == OP_PERMUTE || n->op == OP_RESHAPE ||
           (n->op == OP_SLICE && n->attrs.step == 1 && fuse_slice_start(n, &s));
}

static int count_users(const IrGraph *g, int i) {
    int n = 0;
    for (int u = i + 1; u < g->n; u++)
        for (int j = 0; j < g->nodes[u].nin; j++)
            n += g->nodes[u].in[j] == i;
    return n;
}

/* The mapping of reshape `nd` from its operand's dims (mapped by *v) to its
 * own: dims kept, dims of extent 1 dropped or added, a constant dim split
 * into constant dims; false for anything else (a merge). */
static bool reshape_view(const IrGraph *g, const IrNode *nd, FuseView *v) {
    const IrType *in = &g->nodes[nd->in[0]].type, *out = &nd->type;
    FuseView next = *v;
    int i = 0, j = 0;
    int64_t e, w;
    while (j < out->rank || i < in->rank) {
        if (i < in->rank && j < out->rank && dim_equal(in->dims[i], out->dims[j])) {
            next.src_dim[j] = v->src_dim[i];
            next.mult[j++] = v->mult[i++];
        } else if (j < out->rank && dim_is_const(out->dims[j], &w) && w == 1) {
            next.src_dim[j] = 0; /* any stride: one element */
            next.mult[j++] = 0;
        } else if (i < in->rank && dim_is_const(in->dims[i], &e) && e == 1) {
            i++;
        } else if (i < in->rank && dim_is_const(in->dims[i], &e)) {
            int end = j;
            int64_t prod = 1;
            while (end < out->rank && prod < e && dim_is_const(out->dims[end], &w) && w > 0)
                prod *= w, end++;
            if (prod != e || end == j)
                return false;
            int64_t inner = 1;
            for (int q = end - 1; q >= j; q--) {
                next.src_dim[q] = v->src_dim[i];
                next.mult[q] = v->mult[i] * inner;
                dim_is_const(out->dims[q], &w);
                inner *= w;
            }
            i++;
            j = end;
        } else
            return false;
    }
    next.rank = out->rank;
    *v = next;
    return true;
}

/* Whether node `view` of g is a chain of views (FuseView) over a value that
 * is not itself a view; fills *v and *src. The chain's nodes other than
 * `view` must have one user each (the next node). */
static bool view_of(const IrGraph *g, int view, FuseView *v, int *src) {
    int cur = view;
    v->nchain = v->nterm = 0;
    while (is_view_op(&g->nodes[cur])) {
        if (v->nchain == 8 || (cur != view && (count_users(g, cur) != 1 || fuse_is_output(g, cur))))
            return false;
        v->chain[v->nchain++] = cur;
        cur = g->nodes[cur].in[0];
    }
    if (!v->nchain)
        return false;
    *src = cur;
    const IrType *st = &g->nodes[cur].type;
    v->rank = st->rank;
    for (int d = 0; d < st->rank; d++) {
        v->src_dim[d] = d;
        v->mult[d] = 1;
    }
    for (int c = v->nchain - 1; c >= 0; c--) {
        const IrNode *nd = &g->nodes[v->chain[c]];
        if (nd->op == OP_SLICE) {
            int64_t start;
            int axis = (int)nd->attrs.axis;
            fuse_slice_start(nd, &start);
            if (v->nterm == 8)
                return false;
            v->term_start[v->nterm] = start;
            v->term_mult[v->nterm] = v->mult[axis];
            v->term_dim[v->nterm++] = v->src_dim[axis];
        } else if (nd->op == OP_PERMUTE) {
            FuseView next = *v;
            for (int d = 0; d < nd->type.rank; d++) {
                next.src_dim[d] = v->src_dim[nd->attrs.perm[d]];
                next.mult[d] = v->mult[nd->attrs.perm[d]];
            }
            *v = next;
        } else if (!reshape_view(g, nd, v))
            return false;
    }
    /* the core reads vectors along the last dim: it must be contiguous */
    return v->rank >= 1 && v->src_dim[v->rank - 1] == st->rank - 1 && v->mult[v->rank - 1] == 1;
}

/* Makes operand i of attention a (q, k or v: `op`) of kernel r a view read
 * in place when it is one; returns the node the kernel reads. */
static int absorb_view(FusePlan *p, int r, FuseAttention *a, int i, int op) {
    FuseView *v = &a->views[i];
    int src;
    a->view[i] = -1;
    if (!view_of(p->g, op, v, &src) || fuse_user_root(p, op) != r)
        return op;
    for (int c = 0; c < v->nchain; c++)
        if (p->owner[v->chain[c]] >= 0 && p->owner[v->chain[c]] != v->chain[c] && p->owner[v->chain[c]] != r)
            return op;
    for (int c = 0; c < v->nchain; c++)
        p->owner[v->chain[c]] = r;
    a->view[i] = op;
    return src;
}

/* The permute that merges the heads back when it is the only reader of the
 * attention's result r and keeps the last dim last (the kernel writes its
 * layout through the output strides), else r. */
static int merged_heads(const FusePlan *p, int r) {
    const IrGraph *g = p->g;
    if (fuse_is_output(g, r))
        return r;
    int user = -1;
    for (int u = r + 1; u < g->n; u++)
        for (int j = 0; j < g->nodes[u].nin; j++)
            if (g->nodes[u].in[j] == r) {
                if (user >= 0 && user != u)
                    return r;
                user = u;
            }
    const IrNode *n = user >= 0 ? &g->nodes[user] : NULL;
    if (!n || n->op != OP_PERMUTE || p->owner[user] != user || n->attrs.perm[n->type.rank - 1] != n->type.rank - 1)
        return r;
    return user;
}

int fuse_attention(FusePlan *p) {
    const IrGraph *g = p->g;
    int moved = 0;
    for (int r = 0; r < g->n; r++) {
        const IrNode *pv = &g->nodes[r];
        if (pv->op != OP_MATMUL || pv->attrs.trans_a || pv->attrs.trans_b || pv->type.dtype != ATTN_F32 ||
            p->owner[r] != r)
            continue;
        int sm = pv->in[0];
        const IrNode *s = &g->nodes[sm];
        if (s->op != OP_SOFTMAX || s->attrs.axis != s->type.rank - 1 || pv->in[1] == sm || !only_user(p, sm, r))
            continue;
        FuseAttention a;
        if (!match_chain(p, s->in[0], sm, &a))
            continue;
        a.v = pv->in[1];
        FuseAttention *keep = arena_alloc(p->ar, sizeof *keep);
        if (!keep)
            return moved;
        *keep = a;
        /* the chain: from the scores matmul up to the softmax */
        for (int cur = sm;; ) {
            p->owner[cur] = r;
            moved++;
            if (cur == a.scores)
                break;
            const IrNode *n = &g->nodes[cur];
            int next = -1;
            for (int k = 0; k < n->nin; k++) {
                int o = n->in[k];
                if (o != a.mask && o != a.scale_node && g->nodes[o].op != OP_CONST)
                    next = o;
            }
            cur = n->op == OP_SOFTMAX ? n->in[0] : next;
        }
        /* the heads split out of a projection are read where they lie */
        keep->q = absorb_view(p, r, keep, 0, keep->q);
        keep->k = absorb_view(p, r, keep, 1, keep->k);
        keep->v = absorb_view(p, r, keep, 2, keep->v);
        keep->pv = r;
        int root = merged_heads(p, r);
        if (root != r) {
            fuse_merge(p, r, root);
            p->owner[root] = root;
        }
        p->kind[root] = FK_ATTENTION;
        p->attn[root] = keep;
    }
    return moved;
}
