/*
 * pass_canonical.c — the decompositions that exporters write become the
 * table's ops, so that fusion sees what it sees in a hand-written model.
 *
 * An ONNX graph (and a model written node by node after one) spells
 * nn.LayerNorm as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div with a Mul and
 * an Add for the affine part, nn.GELU as x * 0.5 * (1 + erf(x / √2)) or its
 * tanh form, and reads Kᵀ through a Transpose node. Rewritten:
 *
 *   mean(x) keepdim over the last axis = m, d = x - m,
 *   d / sqrt(mean(pow(d, 2) or d * d) + eps)     -> layer_norm(x, eps = eps)
 *   layer_norm(x) * w, then + b (w, b [D])       -> layer_norm(x, w, b)
 *   the product of x, 0.5 and 1 + erf(x / √2) (or x * (1/√2)), in any
 *   association and order                        -> gelu(x)
 *   the product of x, 0.5 and 1 + tanh(√(2/π) * (x + 0.044715 * x³)),
 *   x³ = x * x * x or pow(x, 3)                  -> gelu(x, approximate="tanh")
 *   matmul(a, permute(b, p)) where p swaps the last two axes of p'
 *                                                -> matmul(a, permute(b, p')) reading it transposed
 *   matmul(q / c, k) or matmul(q * c, k), c a power of two
 *                                                -> matmul(q, k) / c (or * c)
 *
 * Only these exact forms are rewritten: the constants must be those values
 * rounded to f32 (the exponent exactly 2, eps added to the variance inside
 * the square root as LayerNormalization does). A rewritten node keeps its
 * slot and type; the nodes it no longer reads are DCE's. The last rule moves
 * a power-of-two scale of attention's queries (PyTorch's
 * multi_head_attention_forward scales q, not the scores) after the product,
 * where fuse_attention takes it: scaling by a power of two is exact, so the
 * scores are the same numbers.
 */
#include "ir.h"

#include <math.h>

/* The f32 value of a one-element f32 constant. */
static bool const_value(const IrGraph *g, int i, float *v) {
    const IrNode *n = &g->nodes[i];
    if (n->op != OP_CONST || !n->value || n->value->dtype != ATTN_F32 || attn_tensor_numel(n->value) != 1 ||
        !n->value->data)
        return false;
    *v = *(const float *)n->value->data;
    return true;
}

/* Whether node i is the f32 constant `want` rounded to f32. */
static bool const_is(const IrGraph *g, int i, double want) {
    float v;
    return const_value(g, i, &v) && v == (float)want;
}

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

static bool same_type(const IrType *a, const IrType *b) {
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int d = 0; d < a->rank; d++)
        if (!dim_equal(a->dims[d], b->dims[d]))
            return false;
    return true;
}

/* Node i is op `op` with f32 result. */
static bool is_f32(const IrGraph *g, int i, OpKind op) {
    return g->nodes[i].op == op && g->nodes[i].type.dtype == ATTN_F32;
}

/* The operand of binary node i other than the one for which pred holds; -1
 * when neither does. *k receives the matched operand. */
static int other_operand(const IrGraph *g, int i, bool (*pred)(const IrGraph *, int, const void *),
                         const void *arg, int *k) {
    const IrNode *n = &g->nodes[i];
    for (int s = 0; s < 2; s++)
        if (pred(g, n->in[s], arg)) {
            *k = n->in[s];
            return n->in[1 - s];
        }
    return -1;
}

static bool pred_const(const IrGraph *g, int i, const void *want) { return const_is(g, i, *(const double *)want); }

/* The operand of add node i other than the constant `c`, or -1. */
static int add_of_const(const IrGraph *g, int i, double c) {
    int k;
    return is_f32(g, i, OP_ADD) ? other_operand(g, i, pred_const, &c, &k) : -1;
}

/* ---- layer norm ---- */

/* Node i is mean(x, axis=-1, keepdim=1) of f32 x; its x, or -1. */
static int mean_last(const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    if (!is_f32(g, i, OP_MEAN) || !n->attrs.keepdim || n->type.rank < 1 || n->attrs.axis != n->type.rank - 1)
        return -1;
    return n->in[0];
}

/* Node i is d * d or pow(d, 2); its d, or -1. */
static int square_of(const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    if (is_f32(g, i, OP_MUL) && n->in[0] == n->in[1])
        return n->in[0];
    if (is_f32(g, i, OP_POW) && const_is(g, n->in[1], 2.0))
        return n->in[0];
    return -1;
}

/* Node i is (x - mean(x)) / sqrt(mean((x - mean(x))²) + eps): its x (and
 * eps), or -1. */
static int match_norm(const IrGraph *g, int i, double *eps) {
    const IrNode *n = &g->nodes[i];
    if (!is_f32(g, i, OP_DIV) || !is_f32(g, n->in[1], OP_SQRT))
        return -1;
    int d = n->in[0], sum = g->nodes[n->in[1]].in[0], var = -1, c = -1;
    if (is_f32(g, sum, OP_ADD)) {
        const IrNode *a = &g->nodes[sum];
        var = mean_last(g, a->in[0]) >= 0 ? a->in[0] : a->in[1];
        c = var == a->in[0] ? a->in[1] : a->in[0];
    }
    float e;
    if (var < 0 || !const_value(g, c, &e) || !(e >= 0.0f) || isinf(e) || mean_last(g, var) < 0 ||
        square_of(g, mean_last(g, var)) != d || !is_f32(g, d, OP_SUB))
        return -1;
    int x = g->nodes[d].in[0], m = g->nodes[d].in[1];
    if (mean_last(g, m) != x || !same_type(&g->nodes[x].type, &n->type))
        return -1;
    *eps = e;
    return x;
}

/* Node i is layer_norm(...) * w or w * layer_norm(...) (a norm of `nin`
 * operands read only here, w an f32 [D] for the norm's last dim D): the
 * norm's index and w, or -1. */
static int norm_times(const IrGraph *g, int i, OpKind op, int nin, int *w) {
    const IrNode *n = &g->nodes[i];
    if (!is_f32(g, i, op))
        return -1;
    for (int s = 0; s < 2; s++) {
        const IrNode *ln = &g->nodes[n->in[s]];
        const IrType *wt = &g->nodes[n->in[1 - s]].type;
        if (ln->op == OP_LAYER_NORM && ln->nin == nin && readers(g, n->in[s]) == 1 && wt->rank == 1 &&
            wt->dtype == ATTN_F32 && dim_equal(wt->dims[0], ln->type.dims[ln->type.rank - 1]) &&
            same_type(&ln->type, &n->type)) {
            *w = n->in[1 - s];
            return n->in[s];
        }
    }
    return -1;
}

/* Turns node i of g into layer_norm(in[0..nin)) with epsilon eps. */
static void put_norm(Arena *ar, IrGraph *g, int i, const int *in, int nin, double eps) {
    int *ops = arena_alloc(ar, (size_t)nin * sizeof(int));
    if (!ops)
        return;
    for (int k = 0; k < nin; k++)
        ops[k] = in[k];
    IrNode *n = &g->nodes[i];
    n->op = OP_LAYER_NORM;
    n->in = ops;
    n->nin = nin;
    n->attrs = (OpAttrs){.eps = eps};
}

static bool rewrite_norm(Arena *ar, IrGraph *g, int i) {
    double eps;
    int x = match_norm(g, i, &eps), w, b;
    if (x >= 0) {
        put_norm(ar, g, i, &x, 1, eps);
        return true;
    }
    int ln = norm_times(g, i, OP_MUL, 1, &w);
    if (ln >= 0) {
        put_norm(ar, g, i, (int[]){g->nodes[ln].in[0], w}, 2, g->nodes[ln].attrs.eps);
        return true;
    }
    ln = norm_times(g, i, OP_ADD, 2, &b);
    if (ln >= 0) {
        const IrNode *l = &g->nodes[ln];
        put_norm(ar, g, i, (int[]){l->in[0], l->in[1], b}, 3, l->attrs.eps);
        return true;
    }
    return false;
}

/* ---- GELU ---- */

#define MAX_FACTORS 4

/* The factors of product i: mul nodes (the root, and others read only by
 * the product) are opened up to `max` leaves; the count, or -1 when there
 * are more. A product of `max` leaves nests at most max - 1 deep, so a
 * deeper chain (of any length, as in a generated graph) stops there. */
static int open_product(const IrGraph *g, int i, bool root, int *leaf, int n, int max, int depth) {
    if (is_f32(g, i, OP_MUL) && (root || readers(g, i) == 1)) {
        if (depth == max)
            return -1;
        n = open_product(g, g->nodes[i].in[0], false, leaf, n, max, depth + 1);
        return n < 0 ? -1 : open_product(g, g->nodes[i].in[1], false, leaf, n, max, depth + 1);
    }
    if (n == max)
        return -1;
    leaf[n] = i;
    return n + 1;
}

static int factors(const IrGraph *g, int i, bool root, int *leaf, int n, int max) {
    return open_product(g, i, root, leaf, n, max, 0);
}

/* Whether leaf[0..n) holds exactly one index for which pred(·, x) holds and
 * the constant c once, every other leaf being x. */
static bool leaves_are(const IrGraph *g, const int *leaf, int n, int x, double c,
                       bool (*pred)(const IrGraph *, int, int)) {
    int hits = 0, consts = 0;
    for (int k = 0; k < n; k++) {
        if (leaf[k] == x)
            continue;
        if (const_is(g, leaf[k], c))
            consts++;
        else if (pred(g, leaf[k], x))
            hits++;
        else
            return false;
    }
    return hits == 1 && consts == 1;
}

/* Node i is x / √2 or x * (1/√2). */
static bool scaled_by_rsqrt2(const IrGraph *g, int i, int x) {
    const IrNode *n = &g->nodes[i];
    int k;
    if (is_f32(g, i, OP_DIV))
        return n->in[0] == x && const_is(g, n->in[1], M_SQRT2);
    double c = M_SQRT1_2;
    return is_f32(g, i, OP_MUL) && other_operand(g, i, pred_const, &c, &k) == x;
}

/* Node i is 1 + erf(x / √2). */
static bool one_plus_erf(const IrGraph *g, int i, int x) {
    int e = add_of_const(g, i, 1.0);
    return e >= 0 && is_f32(g, e, OP_ERF) && scaled_by_rsqrt2(g, g->nodes[e].in[0], x);
}

/* Node i is x³: pow(x, 3) or a product of three x. */
static bool cube_of(const IrGraph *g, int i, int x) {
    if (is_f32(g, i, OP_POW))
        return g->nodes[i].in[0] == x && const_is(g, g->nodes[i].in[1], 3.0);
    int leaf[3];
    return is_f32(g, i, OP_MUL) && factors(g, i, true, leaf, 0, 3) == 3 && leaf[0] == x && leaf[1] == x &&
           leaf[2] == x;
}

/* Node i is a product of the constant c and a value for which pred(·, x)
 * holds, in either order. */
static bool const_times(const IrGraph *g, int i, double c, bool (*pred)(const IrGraph *, int, int), int x) {
    int leaf[2];
    if (!is_f32(g, i, OP_MUL) || factors(g, i, true, leaf, 0, 2) != 2)
        return false;
    return (const_is(g, leaf[0], c) && pred(g, leaf[1], x)) || (const_is(g, leaf[1], c) && pred(g, leaf[0], x));
}

/* Node i is 0.044715 * x³ (the cube as one factor, or opened as x, x, x). */
static bool kappa_cube(const IrGraph *g, int i, int x) {
    int leaf[MAX_FACTORS], n = is_f32(g, i, OP_MUL) ? factors(g, i, true, leaf, 0, MAX_FACTORS) : -1;
    if (n == 2)
        return const_times(g, i, 0.044715, cube_of, x);
    int xs = 0, consts = 0;
    for (int k = 0; k < n; k++)
        xs += leaf[k] == x, consts += const_is(g, leaf[k], 0.044715);
    return n == 4 && xs == 3 && consts == 1;
}

/* Node i is x + 0.044715 * x³ (either order). */
static bool cubic_term(const IrGraph *g, int i, int x) {
    const IrNode *n = &g->nodes[i];
    return is_f32(g, i, OP_ADD) && ((n->in[0] == x && kappa_cube(g, n->in[1], x)) ||
                                    (n->in[1] == x && kappa_cube(g, n->in[0], x)));
}

/* Node i is 1 + tanh(√(2/π) * (x + 0.044715 * x³)). */
static bool one_plus_tanh(const IrGraph *g, int i, int x) {
    int t = add_of_const(g, i, 1.0);
    return t >= 0 && is_f32(g, t, OP_TANH) && const_times(g, g->nodes[t].in[0], M_2_SQRTPI * M_SQRT1_2, cubic_term, x);
}

/* Node i adds something to an erf or a tanh. */
static bool sum_with_erf_or_tanh(const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    if (n->op != OP_ADD)
        return false;
    for (int s = 0; s < 2; s++)
        if (g->nodes[n->in[s]].op == OP_ERF || g->nodes[n->in[s]].op == OP_TANH)
            return true;
    return false;
}

/* Product i has such a sum among its operands or theirs: what a GELU's three
 * factors nest in. Checked before opening the product, which counts readers
 * (a pass over the rest of the graph), so that a long chain of products is
 * not opened at every node. */
static bool may_be_gelu(const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    for (int s = 0; s < 2; s++) {
        const IrNode *o = &g->nodes[n->in[s]];
        if (sum_with_erf_or_tanh(g, n->in[s]) ||
            (o->op == OP_MUL && (sum_with_erf_or_tanh(g, o->in[0]) || sum_with_erf_or_tanh(g, o->in[1]))))
            return true;
    }
    return false;
}

/* Node i is x * 0.5 * (1 + erf(x / √2)) (GELU) or the tanh form
 * (GELU_TANH) in any association: the op in *op and x, or -1. */
static int match_gelu(const IrGraph *g, int i, OpKind *op) {
    int leaf[3];
    if (!is_f32(g, i, OP_MUL) || !may_be_gelu(g, i) || factors(g, i, true, leaf, 0, 3) != 3)
        return -1;
    for (int k = 0; k < 3; k++) {
        int x = leaf[k];
        if (!same_type(&g->nodes[x].type, &g->nodes[i].type))
            continue;
        if (leaves_are(g, leaf, 3, x, 0.5, one_plus_erf)) {
            *op = OP_GELU;
            return x;
        }
        if (leaves_are(g, leaf, 3, x, 0.5, one_plus_tanh)) {
            *op = OP_GELU_TANH;
            return x;
        }
    }
    return -1;
}

static bool rewrite_gelu(Arena *ar, IrGraph *g, int i) {
    OpKind op;
    int x = match_gelu(g, i, &op);
    int *in = x >= 0 ? arena_alloc(ar, sizeof(int)) : NULL;
    if (!in)
        return false;
    in[0] = x;
    IrNode *n = &g->nodes[i];
    n->op = op;
    n->in = in;
    n->nin = 1;
    n->attrs = (OpAttrs){0};
    return true;
}

/* ---- products ---- */

/* Matmul i reads permute(b, p) on the right, p moving the last axis and
 * p' (p with its last two entries swapped) keeping it: reads b through p'
 * transposed instead, dropping the permute when p' is the identity. The
 * permute must have no other reader (it is changed in place). */
static bool rewrite_transposed_operand(IrGraph *g, int i) {
    IrNode *m = &g->nodes[i];
    if (m->op != OP_MATMUL || m->type.dtype != ATTN_F32 || m->attrs.trans_b)
        return false;
    int pi = m->in[1];
    IrNode *p = &g->nodes[pi];
    int r = p->type.rank;
    if (p->op != OP_PERMUTE || r < 2 || p->attrs.perm[r - 2] != r - 1 || readers(g, pi) != 1)
        return false;
    int64_t last = p->attrs.perm[r - 1];
    p->attrs.perm[r - 1] = r - 1;
    p->attrs.perm[r - 2] = last;
    const Dim *t = p->type.dims[r - 1];
    p->type.dims[r - 1] = p->type.dims[r - 2];
    p->type.dims[r - 2] = t;
    bool identity = true;
    for (int d = 0; d < r; d++)
        identity &= p->attrs.perm[d] == d;
    if (identity)
        m->in[1] = p->in[0];
    m->attrs.trans_b = true;
    return true;
}

/* Whether c is ±2^k, so that scaling by it (or by 1/c) is exact. */
static bool power_of_two(float c) {
    int e;
    return isfinite(c) && c != 0.0f && fabsf(frexpf(c, &e)) == 0.5f;
}

/* Matmul i, a product with Kᵀ, reads q / c or q * c (c a power of two,
 * the scale read only here) on the left: becomes matmul(q, ·) followed by
 * the scale. */
static bool rewrite_prescaled(Arena *ar, IrGraph *g, int i) {
    const IrNode *m = &g->nodes[i];
    if (m->op != OP_MATMUL || m->type.dtype != ATTN_F32 || m->attrs.trans_a)
        return false;
    int s = m->in[0], q = -1, c = -1;
    const IrNode *sn = &g->nodes[s];
    float v;
    if (is_f32(g, s, OP_DIV) && const_value(g, sn->in[1], &v))
        q = sn->in[0], c = sn->in[1];
    else if (is_f32(g, s, OP_MUL) && const_value(g, sn->in[1], &v))
        q = sn->in[0], c = sn->in[1];
    else if (is_f32(g, s, OP_MUL) && const_value(g, sn->in[0], &v))
        q = sn->in[1], c = sn->in[0];
    if (q < 0 || !m->attrs.trans_b || !power_of_two(v) || readers(g, s) != 1 || !same_type(&g->nodes[q].type, &sn->type))
        return false;
    OpKind scale = sn->op;
    int *prod_in = arena_alloc(ar, 2 * sizeof(int)), *scale_in = arena_alloc(ar, 2 * sizeof(int));
    if (!prod_in || !scale_in || !ir_open_slots(ar, g, i, 1))
        return false;
    /* slot i: the product; i + 1 (the old matmul, which every reader now
       names): its scaled value */
    IrNode *prod = &g->nodes[i], *out = &g->nodes[i + 1];
    *prod = *out;
    prod_in[0] = q;
    prod_in[1] = out->in[1];
    prod->in = prod_in;
    scale_in[0] = i;
    scale_in[1] = c;
    *out = (IrNode){.op = scale, .type = prod->type, .loc = prod->loc, .nin = 2, .in = scale_in};
    return true;
}

int pass_canonicalize(Arena *ar, IrGraph *g) {
    int changed = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_SCAN)
            changed += pass_canonicalize(ar, g->nodes[i].body);
    for (int i = 0; i < g->n && !ar->failed; i++)
        changed += rewrite_norm(ar, g, i) || rewrite_gelu(ar, g, i) || rewrite_transposed_operand(g, i) ||
                   rewrite_prescaled(ar, g, i) || canon_split_heads(ar, g, i);
    return changed;
}
