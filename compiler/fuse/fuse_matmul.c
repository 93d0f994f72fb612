/*
 * fuse_matmul.c — a matmul and the elementwise kernel that consumes it
 * become one kernel: the epilogue (bias, activation, residual add, scaling)
 * runs on each block of the product right after the matmul core finishes it,
 * while the block is still in cache, and the product is never stored apart.
 *
 * A matmul joins when every user of it is an elementwise node of one
 * elementwise kernel, with the product's shape, and that kernel holds no
 * other matmul. The epilogue's result is written where the product was.
 *
 * The kernel may also be a softmax over the last axis reading the product
 * through its elementwise prologue (scores scaled and masked, whose
 * probabilities are needed whole: attention that returns its weights): the
 * core then hands the epilogue whole rows, which it normalises in place
 * while they are in cache: the rows reach memory once, as probabilities.
 */
#include "fuse.h"

static bool has_matmul(const FusePlan *p, int root) {
    for (int i = 0; i < root; i++)
        if (p->owner[i] == root && p->g->nodes[i].op == OP_MATMUL)
            return true;
    return false;
}

static bool last_axis_softmax(const IrGraph *g, int r) {
    const IrNode *n = &g->nodes[r];
    return n->op == OP_SOFTMAX && n->attrs.axis == n->type.rank - 1 && n->type.dtype == ATTN_F32;
}

int fuse_matmul_epilogues(FusePlan *p) {
    const IrGraph *g = p->g;
    int moved = 0;
    for (int m = g->n - 1; m >= 0; m--) {
        const IrNode *mm = &g->nodes[m];
        if (mm->op != OP_MATMUL || p->owner[m] != m || p->kind[m] == FK_ATTENTION || mm->type.dtype != ATTN_F32 ||
            mm->type.rank < 2)
            continue;
        int root = fuse_user_root(p, m);
        if (root < 0 || !(fuse_is_elementwise(&g->nodes[root]) || last_axis_softmax(g, root)) ||
            p->kind[root] == FK_ATTENTION || has_matmul(p, root))
            continue;
        bool fits = true;
        for (int j = m + 1; j <= root && fits; j++) {
            const IrNode *u = &g->nodes[j];
            for (int k = 0; k < u->nin; k++)
                if (u->in[k] == m && (!fuse_is_elementwise(u) || !fuse_same_dims(&u->type, &mm->type)))
                    fits = false;
        }
        if (!fits || fuse_leaf_count(p, root, m) > FUSE_MAX_LEAVES)
            continue;
        p->owner[m] = root;
        moved++;
    }
    return moved;
}
