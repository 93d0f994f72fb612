/*
 * fuse_reductions.c — softmax and layer norm read their input through the
 * elementwise kernel that produces it.
 *
 * `softmax(where(mask, -inf, s / 8))` and `layer_norm(x + attn + b)` (add &
 * norm) then make one pass over memory fewer and store no intermediate.
 * Both read their input more than once per row (maximum then exponentials;
 * mean then deviations then the normalised values), so the fused expression
 * is evaluated that many times: only kernels made of cheap ops (COST_PLAIN in
 * ops.def: arithmetic, comparisons, selects — no exp, log, tanh, erf or pow) join.
 * Only reductions over the last axis fuse: their rows are contiguous, so
 * each operand's place is found once per row.
 */
#include "fuse.h"

static bool cheap(OpKind op) { return op_info[op].cost == COST_PLAIN; }

/* Whether kernel `root` (an elementwise kernel or a single elementwise node)
 * holds only cheap ops and no views. */
static bool cheap_kernel(const FusePlan *p, int root) {
    for (int i = 0; i <= root; i++)
        if (p->owner[i] == root && (!fuse_is_elementwise(&p->g->nodes[i]) || !cheap(p->g->nodes[i].op)))
            return false;
    return true;
}

int fuse_reductions(FusePlan *p) {
    const IrGraph *g = p->g;
    int moved = 0;
    for (int r = 0; r < g->n; r++) {
        const IrNode *red = &g->nodes[r];
        if (p->owner[r] != r || (red->op != OP_SOFTMAX && red->op != OP_LAYER_NORM))
            continue;
        if (red->op == OP_SOFTMAX && red->attrs.axis != red->type.rank - 1)
            continue;
        int x = red->in[0];
        if (p->owner[x] != x || !fuse_is_elementwise(&g->nodes[x]) || fuse_user_root(p, x) != r)
            continue;
        bool only_input = true; /* not also gamma or beta */
        for (int k = 1; k < red->nin; k++)
            only_input &= red->in[k] != x;
        if (!only_input || !cheap_kernel(p, x) || fuse_leaf_count(p, r, x) > FUSE_MAX_LEAVES)
            continue;
        for (int i = 0; i <= x; i++)
            moved += p->owner[i] == x;
        fuse_merge(p, x, r);
    }
    return moved;
}
