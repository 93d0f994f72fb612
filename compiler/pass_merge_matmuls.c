/*
 * pass_merge_matmuls.c — products that share their left operand become one.
 *
 * A recurrent cell written with one weight per gate (h @ W_r.T, h @ W_z.T,
 * h @ W_n.T) or self-attention's projections (x @ W_q.T, x @ W_k.T,
 * x @ W_v.T) run as several thin products that each read the left operand
 * again. When the right operands are weights — PARAMs, slices of them or, in
 * a scan body, captured outer values — with the same constant inner dim, the
 * products become one against the weights' concatenation along the output
 * dim, and each original product becomes a slice of its columns:
 *
 *     P = h @ concat(W_r, W_z, W_n).T;  r_part = P[:, 0:H]; ...
 *
 * The concatenation depends on weights only: pass_scan_invariant moves it out
 * of a loop body, the JIT and AOT objects pack it once when weights are bound
 * (cg_entry.c, runtime/aot_weights.c), and the interpreter computes it per call. Elementwise users
 * read the slices in place (compiler/fuse_elementwise.c), so a GRU step is
 * one product and one kernel of gate math, whichever way its weights are
 * written. Concatenations of adjacent slices of one weight (in_proj_weight's
 * q, k and v rows) are packed straight from that weight.
 */
#include "ir.h"

#include <string.h>

/* Most products merged into one. */
#define MERGE_MAX 16

/* A value fixed for the whole call: a weight, a slice of one, or a body's captured input. */
static bool is_weight(const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    if (n->op == OP_PARAM)
        return true;
    if (n->op == OP_SLICE)
        return g->nodes[n->in[0]].op == OP_PARAM;
    const IrNode *scan = n->op == OP_INPUT ? ir_scan_of(g) : NULL;
    return scan && n->index >= scan->scan.nseq + scan->scan.ncarry;
}

/* Product i's right operand as a k x n weight with constant dims (false otherwise). */
static bool weight_operand(const IrGraph *g, int i, int64_t *k, int64_t *n) {
    const IrNode *m = &g->nodes[i];
    if (m->op != OP_MATMUL || m->attrs.trans_a || m->type.rank < 2 || m->type.dtype != ATTN_F32)
        return false;
    const IrType *b = &g->nodes[m->in[1]].type;
    return b->rank == 2 && is_weight(g, m->in[1]) && dim_is_const(b->dims[m->attrs.trans_b ? 1 : 0], k) &&
           dim_is_const(b->dims[m->attrs.trans_b ? 0 : 1], n);
}

/* Whether node w of g is, or can be moved to be, before position pos: it
 * is, or it has no operands, or it is a slice of such a node. */
static bool movable(const IrGraph *g, int w, int pos) {
    const IrNode *n = &g->nodes[w];
    return w < pos || n->nin == 0 || (n->op == OP_SLICE && g->nodes[n->in[0]].nin == 0);
}

/* Index idx after node `from` of g moved to position `to` (to < from). */
static int moved(int idx, int from, int to) { return idx == from ? to : idx >= to && idx < from ? idx + 1 : idx; }

/* Moves node `from` of g to position `to` < from (its operands must come
 * before `to`); every index into g, and the n indices of v[], follow. */
static void move_node(IrGraph *g, int from, int to, int *v, int n) {
    IrNode keep = g->nodes[from];
    memmove(&g->nodes[to + 1], &g->nodes[to], (size_t)(from - to) * sizeof(IrNode));
    g->nodes[to] = keep;
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].nin; k++)
            g->nodes[i].in[k] = moved(g->nodes[i].in[k], from, to);
    for (int k = 0; k < g->nout; k++)
        g->outputs[k] = moved(g->outputs[k], from, to);
    for (int k = 0; k < n; k++)
        v[k] = moved(v[k], from, to);
}

/* Product j can join the group of product i (same left operand, layout and inner dim). */
static bool same_group(const IrGraph *g, int i, int j) {
    const IrNode *a = &g->nodes[i], *b = &g->nodes[j];
    int64_t ka, kb, na, nb;
    if (!weight_operand(g, j, &kb, &nb) || !weight_operand(g, i, &ka, &na))
        return false;
    return a->in[0] == b->in[0] && a->attrs.trans_b == b->attrs.trans_b && ka == kb && a->in[1] != b->in[1] &&
           movable(g, b->in[1], i);
}

/* A copy of v[0..n); NULL when out of memory (the failed arena makes the
 * passes stop and the phase drop the graph). */
static int *copy_ints(Arena *ar, const int *v, int n) {
    int *c = arena_alloc(ar, (size_t)n * sizeof(int));
    if (c)
        memcpy(c, v, (size_t)n * sizeof(int));
    return c;
}

/* The constant first index of slice s. */
static bool slice_start(const IrNode *s, int64_t *start) {
    *start = s->attrs.start;
    return !s->start || dim_is_const(s->start, start);
}

/* The PARAM that weights[0..n) are consecutive step-1 slices of along `axis`,
 * in order, or -1. */
static int adjacent_slices(const IrGraph *g, const int *weights, int n, int axis) {
    int src = -1;
    int64_t next = 0, len, start;
    for (int m = 0; m < n; m++) {
        const IrNode *s = &g->nodes[weights[m]];
        if (s->op != OP_SLICE || !slice_start(s, &start) || s->attrs.step != 1 || s->attrs.axis != axis ||
            (m > 0 && (s->in[0] != src || start != next)) || !dim_is_const(s->type.dims[axis], &len))
            return -1;
        src = s->in[0];
        next = start + len;
    }
    return src;
}

/* The bias added to product m when its only reader is add(m, b) or add(b, m)
 * with b a weight of shape [n] (the product's last dim), with that add in
 * *sum; -1 otherwise. */
static int bias_of(const IrGraph *g, int m, int first, int *sum) {
    int user = -1;
    for (int u = m + 1; u < g->n; u++)
        for (int j = 0; j < g->nodes[u].nin; j++)
            if (g->nodes[u].in[j] == m) {
                if (user >= 0)
                    return -1;
                user = u;
            }
    for (int k = 0; k < g->nout; k++)
        if (g->outputs[k] == m)
            return -1;
    const IrNode *add = user >= 0 ? &g->nodes[user] : NULL;
    if (!add || add->op != OP_ADD || add->nin != 2 || add->in[0] == add->in[1])
        return -1;
    int b = add->in[0] == m ? add->in[1] : add->in[0];
    const IrType *bt = &g->nodes[b].type, *mt = &g->nodes[m].type;
    if (!movable(g, b, first) || !is_weight(g, b) || bt->rank != 1 || bt->dtype != ATTN_F32 ||
        !dim_equal(bt->dims[0], mt->dims[mt->rank - 1]) || add->type.rank != mt->rank)
        return -1;
    *sum = user;
    return b;
}

/* Writes into slot `at` of g the concatenation of parts[0..n) along axis
 * (a slice when they are one range of a weight), of type `t`. */
static void put_concat(Arena *ar, IrGraph *g, int at, const int *parts, int n, int axis, IrType t, SrcLoc loc) {
    int whole = adjacent_slices(g, parts, n, axis);
    IrNode *c = &g->nodes[at];
    *c = (IrNode){.op = OP_CONCAT, .type = t, .loc = loc, .nin = n, .in = copy_ints(ar, parts, n)};
    c->attrs.axis = axis;
    if (whole >= 0) {
        c->op = OP_SLICE;
        c->nin = 1;
        c->in = copy_ints(ar, &whole, 1);
        slice_start(&g->nodes[parts[0]], &c->attrs.start);
        c->start = dim_const(ar, c->attrs.start);
        c->attrs.step = 1;
    }
}

/* Turns node `at` of g (keeping its type) into columns [start, +len) of node `src`. */
static void put_columns(Arena *ar, IrGraph *g, int at, int src, int64_t start) {
    IrNode *s = &g->nodes[at];
    IrType t = s->type;
    SrcLoc loc = s->loc;
    *s = (IrNode){.op = OP_SLICE, .type = t, .loc = loc, .nin = 1, .in = copy_ints(ar, &src, 1)};
    s->attrs.axis = t.rank - 1;
    s->attrs.start = start;
    s->start = dim_const(ar, start);
    s->attrs.step = 1;
}

/* Merges the products group[0..n) (ascending) of g, and their bias adds when
 * every one has one. Every weight comes before the first product, whose place
 * the concatenated weights, biases, the product and its bias add take; the
 * old products and adds become slices of the new ones. */
static void merge(Arena *ar, IrGraph *g, const int *group, int n) {
    /* the nodes involved, kept up to date as nodes move (-1: none) */
    int at[4][MERGE_MAX];
    memset(at, -1, sizeof at);
    int *member = at[0], *weights = at[1], *biases = at[2], *adds = at[3];
    const IrNode proto = g->nodes[group[0]];
    bool tb = proto.attrs.trans_b, biased = true;
    int64_t k = 0, total = 0, cols[MERGE_MAX];
    for (int m = 0; m < n; m++) {
        member[m] = group[m];
        weight_operand(g, member[m], &k, &cols[m]);
        weights[m] = g->nodes[member[m]].in[1];
        total += cols[m];
        biased &= (biases[m] = bias_of(g, member[m], group[0], &adds[m])) >= 0;
    }
    /* weights defined after the first product (a body's captured inputs
       appear where first used) move before it, operands first */
    for (int q = 0; q < (biased ? 2 * n : n); q++) {
        int *w = q < n ? &weights[q] : &biases[q - n];
        const IrNode *wn = &g->nodes[*w];
        if (wn->nin && wn->in[0] > member[0])
            move_node(g, wn->in[0], member[0], &at[0][0], 4 * MERGE_MAX);
        if (*w > member[0])
            move_node(g, *w, member[0], &at[0][0], 4 * MERGE_MAX);
    }
    int first = member[0];
    const Dim *all = dim_const(ar, total);
    /* slots: the weights' concatenation, the biases' (when biased), the product, its bias add */
    int slots = biased ? 4 : 2, wcat = first, bcat = first + 1, prod = first + (biased ? 2 : 1);
    if (!ir_open_slots(ar, g, first, slots))
        return;
    IrType wt = {.dtype = ATTN_F32, .rank = 2};
    wt.dims[tb ? 0 : 1] = all;
    wt.dims[tb ? 1 : 0] = dim_const(ar, k);
    put_concat(ar, g, wcat, weights, n, tb ? 0 : 1, wt, proto.loc);
    g->nodes[prod] = proto;
    g->nodes[prod].in = copy_ints(ar, (int[]){proto.in[0], wcat}, 2);
    g->nodes[prod].type.dims[proto.type.rank - 1] = all;
    int out = prod;
    if (biased) {
        IrType bt = {.dtype = ATTN_F32, .rank = 1, .dims = {all}};
        put_concat(ar, g, bcat, biases, n, 0, bt, proto.loc);
        IrNode *sum = &g->nodes[prod + 1];
        *sum = (IrNode){.op = OP_ADD, .type = g->nodes[prod].type, .loc = proto.loc, .nin = 2,
                        .in = copy_ints(ar, (int[]){prod, bcat}, 2)};
        out = prod + 1;
    }
    int64_t start = 0;
    for (int m = 0; m < n; m++) {
        put_columns(ar, g, member[m] + slots, prod, start);
        if (biased)
            put_columns(ar, g, adds[m] + slots, out, start);
        start += cols[m];
    }
}

int pass_merge_matmuls(Arena *ar, IrGraph *g) {
    int changed = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_SCAN)
            changed += pass_merge_matmuls(ar, g->nodes[i].body);
    for (int i = 0; i < g->n && !ar->failed; i++) {
        int64_t k, n;
        if (!weight_operand(g, i, &k, &n))
            continue;
        int member[MERGE_MAX] = {i}, count = 1;
        for (int j = i + 1; j < g->n && count < MERGE_MAX; j++)
            if (same_group(g, i, j))
                member[count++] = j;
        if (count < 2)
            continue;
        merge(ar, g, member, count);
        changed += count;
    }
    return changed;
}
