/*
 * fuse_elementwise.c — elementwise chains become one loop.
 *
 * An elementwise node joins the kernel of its users when all of them belong
 * to one elementwise kernel and have its shape: its value is then computed
 * in registers at the index the user reads and never stored. A node used by
 * two kernels, or read at another index (broadcast), stays a kernel of its
 * own, so nothing is computed twice. Slices and expands of a stored value
 * join as views: the kernel reads the stored value at the shifted or
 * broadcast index instead of copying it first (a GRU step's six gate slices
 * cost no copies). Nodes are visited users-first, so whole chains fold into
 * the kernel of their last node.
 */
#include "fuse.h"

/* Elementwise kernels grow only to this many nodes: the expression is
 * emitted as straight-line code, twice (vector loop and scalar tail). */
enum { MAX_MEMBERS = ATTN_LIMIT_FUSE_GROUP };

static int count_members(const FusePlan *p, int root) {
    int n = 0;
    for (int i = 0; i <= root; i++)
        n += p->owner[i] == root;
    return n;
}

/* Whether every user of node i is an elementwise node of `root`'s kernel
 * with i's shape. */
static bool users_fit(const FusePlan *p, int i, int root) {
    const IrGraph *g = p->g;
    for (int j = i + 1; j <= root; j++) {
        const IrNode *u = &g->nodes[j];
        for (int k = 0; k < u->nin; k++)
            if (u->in[k] == i && (!fuse_is_elementwise(u) || !fuse_same_dims(&u->type, &g->nodes[i].type)))
                return false;
    }
    return true;
}

/* Views: a slice with step 1 or an expand. Their operand stays stored: it has
 * a user (the view) that is not elementwise, so no pass fuses it away. */
static bool is_view(const IrNode *n) { return (n->op == OP_SLICE && n->attrs.step == 1) || n->op == OP_EXPAND; }

int fuse_elementwise(FusePlan *p) {
    const IrGraph *g = p->g;
    int moved = 0;
    for (int i = g->n - 1; i >= 0; i--) {
        const IrNode *n = &g->nodes[i];
        if (p->owner[i] != i || p->kind[i] == FK_ATTENTION)
            continue;
        if (!fuse_is_elementwise(n) && !is_view(n))
            continue;
        int root = fuse_user_root(p, i);
        if (root < 0 || p->kind[root] == FK_ATTENTION || !fuse_is_elementwise(&g->nodes[root]))
            continue;
        if (!users_fit(p, i, root) || count_members(p, root) >= MAX_MEMBERS ||
            fuse_leaf_count(p, root, i) > FUSE_MAX_LEAVES)
            continue;
        p->owner[i] = root;
        moved++;
    }
    return moved;
}
