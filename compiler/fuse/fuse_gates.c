/*
 * fuse_gates.c — a recurrent step's gate math joins its product: one kernel
 * computes h·W_hhᵀ (+ bias, + the step's input projection) and, in the
 * product's epilogue, the gates and the new state: the [B, gates·H]
 * pre-activations are read back while the core still has them in cache, and
 * a step is one kernel instead of two (three for an LSTM).
 *
 * An epilogue runs on blocks of the product's columns, while the gates of
 * hidden unit u are columns u, H + u, 2H + u, ... of it. So the weight's
 * columns are packed interleaved when weights are bound (attn_pack_b_gates):
 * each group of gates·lanes packed columns holds all gates of `lanes` units,
 * and the core hands the epilogue whole groups (attn_gemm_packed's
 * epi_panels). The product is stored in that order into a buffer of its own,
 * read only by the kernel; the kernel's output is the state.
 *
 * The pattern, read from the kernels the earlier passes made:
 *  - a product kernel R (a matmul with a 2-D weight packed at bind time,
 *    maybe with its epilogue) of shape [.., gates·H], H a constant multiple
 *    of FUSE_GATE_LANES, 2 <= gates <= FUSE_MAX_GATES, not an output;
 *  - every reader of R is a slice of one gate (last axis, step 1, width H,
 *    start a multiple of H) that is a member of an elementwise kernel of
 *    shape [.., H];
 *  - of those kernels, all but the last store values that nothing reads
 *    before the last one runs (an LSTM's new cell state, which the new hidden
 *    state also reads): they become members of the last one that it also
 *    writes to their own buffers (FusePlan.stored).
 */
#include "fuse.h"
#include "weight_pack.h"

#include <stdlib.h>

enum { MAX_MEMBERS = ATTN_LIMIT_FUSE_GROUP };

/* The matmul of kernel r: r itself or a member (a product with its
 * epilogue); -1 for other kernels. */
static int product_of(const FusePlan *p, int r) {
    const IrGraph *g = p->g;
    if (p->owner[r] != r || p->kind[r] == FK_ATTENTION)
        return -1;
    if (g->nodes[r].op == OP_MATMUL)
        return r;
    if (!fuse_is_elementwise(&g->nodes[r]))
        return -1;
    for (int i = 0; i < r; i++)
        if (p->owner[i] == r && g->nodes[i].op == OP_MATMUL)
            return i;
    return -1;
}

/* Whether kernel r is elementwise: an elementwise root and no product. */
static bool elementwise_kernel(const FusePlan *p, int r) {
    return p->owner[r] == r && p->kind[r] != FK_ATTENTION && fuse_is_elementwise(&p->g->nodes[r]) &&
           product_of(p, r) < 0;
}

/* Whether node u is a slice of one gate of a [.., gates·H] value. */
static bool gate_slice(const IrNode *u, int64_t H) {
    int last = u->type.rank - 1;
    int64_t w, start;
    return u->op == OP_SLICE && u->attrs.axis == last && u->attrs.step == 1 && fuse_slice_start(u, &start) &&
           start >= 0 && start % H == 0 && dim_is_const(u->type.dims[last], &w) && w == H;
}

/* Whether a and b have the same dims but the last. */
static bool same_rows(const IrType *a, const IrType *b) {
    if (a->rank != b->rank)
        return false;
    for (int d = 0; d + 1 < a->rank; d++)
        if (!dim_equal(a->dims[d], b->dims[d]))
            return false;
    return true;
}

/* Leaves and members the kernel would have with every kernel in `in` joined. */
static void measure(const FusePlan *p, const bool *in, int *leaves, int *members) {
    const IrGraph *g = p->g;
    char *seen = calloc((size_t)g->n + 1, 1);
    *leaves = *members = 0;
    if (!seen) {
        *leaves = FUSE_MAX_LEAVES + 1;
        return;
    }
    for (int i = 0; i < g->n; i++)
        if (p->owner[i] >= 0 && in[p->owner[i]]) {
            seen[i] = 1;
            ++*members;
        }
    for (int i = 0; i < g->n; i++)
        for (int k = 0; seen[i] == 1 && k < g->nodes[i].nin; k++)
            if (!seen[g->nodes[i].in[k]]) {
                seen[g->nodes[i].in[k]] = 2;
                ++*leaves;
            }
    free(seen);
}

/* Joins product kernel r and the gate kernels reading it, if they fit. */
static bool join(FusePlan *p, int r, bool *in) {
    const IrGraph *g = p->g;
    int mm = product_of(p, r);
    if (mm < 0 || fuse_is_output(g, r))
        return false;
    const IrNode *m = &g->nodes[mm];
    const IrType *pt = &g->nodes[r].type;
    int64_t N, H = 0;
    CgParam cp;
    if (m->type.dtype != ATTN_F32 || m->attrs.trans_a || pt->rank < 2 || !fuse_same_dims(pt, &m->type) ||
        !dim_is_const(pt->dims[pt->rank - 1], &N) || !weight_packed_operand(g, m, &cp, NULL, NULL))
        return false;
    /* the gate kernels: every reader of r is a gate slice inside one */
    int last = -1;
    for (int i = 0; i < g->n; i++)
        in[i] = false;
    in[r] = true;
    for (int u = r + 1; u < g->n; u++)
        for (int k = 0; k < g->nodes[u].nin; k++) {
            const IrNode *un = &g->nodes[u];
            if (un->in[k] != r)
                continue;
            int64_t w;
            if (!H && un->op == OP_SLICE && dim_is_const(un->type.dims[un->type.rank - 1], &w))
                H = w;
            int kr = p->owner[u];
            if (H <= 0 || H % FUSE_GATE_LANES || N % H || N / H < 2 || N / H > FUSE_MAX_GATES || !gate_slice(un, H) ||
                kr < 0 || kr == u || !elementwise_kernel(p, kr) || !same_rows(&g->nodes[kr].type, pt) ||
                g->nodes[kr].type.dtype != ATTN_F32)
                return false;
            int64_t kh;
            if (!dim_is_const(g->nodes[kr].type.dims[pt->rank - 1], &kh) || kh != H)
                return false;
            in[kr] = true;
            last = kr > last ? kr : last;
        }
    if (last < 0)
        return false;
    /* the values of the earlier gate kernels are read by the later ones, or
       after the last, or they are outputs */
    for (int s = r + 1; s < last; s++) {
        if (!in[s])
            continue;
        for (int u = s + 1; u < last; u++)
            for (int k = 0; k < g->nodes[u].nin; k++)
                if (g->nodes[u].in[k] == s && !(p->owner[u] >= 0 && in[p->owner[u]]))
                    return false;
    }
    int leaves, members;
    measure(p, in, &leaves, &members);
    int stored = 1; /* the product's buffer, and each earlier gate kernel's */
    for (int s = r + 1; s < last; s++)
        stored += in[s];
    if (leaves + stored > FUSE_MAX_LEAVES || members > MAX_MEMBERS)
        return false;
    for (int s = 0; s < g->n; s++)
        if (in[s] && s != last) {
            p->stored[s] = s != r; /* an earlier gate kernel's value */
            fuse_merge(p, s, last);
        }
    p->stored[mm] = true;
    return true;
}

int fuse_gates(FusePlan *p) {
    const IrGraph *g = p->g;
    bool *in = malloc(sizeof(bool) * ((size_t)g->n + 1));
    int joined = 0;
    if (!in)
        return 0;
    /* the last product first: of a cell's two products (input and recurrent,
       both read by the gates) the recurrent one joins */
    for (int r = g->n - 1; r >= 0; r--)
        joined += join(p, r, in);
    free(in);
    return joined;
}
