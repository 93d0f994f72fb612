/*
 * weight_pack.c — which products read a weight packed at bind time (see
 * weight_pack.h).
 */
#include "weight_pack.h"
#include "fuse.h"

const IrNode *weight_source(const IrGraph **g, int *i, int64_t *offset) {
    for (;;) {
        const IrNode *n = &(*g)->nodes[*i];
        int64_t off;
        if (fuse_slice_view(*g, n, &off)) {
            *offset += off;
            *i = n->in[0];
            continue;
        }
        if (n->op == OP_RESHAPE) { /* the same elements in the same order */
            *i = n->in[0];
            continue;
        }
        if (n->op != OP_INPUT || !(*g)->parent)
            return n;
        const IrNode *scan = ir_scan_of(*g);
        if (!scan || n->index < scan->scan.nseq + scan->scan.ncarry)
            return n;
        *i = scan->in[n->index];
        *g = (*g)->parent;
    }
}

/* Fills p's parts from concatenation c of g (along B's n dim of a product with
 * trans_b `tb`) when every operand is a contiguous block of a bound-at-run-time weight. */
static bool concat_parts(const IrGraph *g, const IrNode *c, bool tb, CgParam *p) {
    if (c->attrs.axis != (tb ? 0 : 1) || c->nin > CG_PARAM_MAX_PARTS)
        return false;
    for (int j = 0; j < c->nin; j++) {
        const IrGraph *pg = g;
        int pi = c->in[j];
        int64_t off = 0, cols, full;
        const IrNode *w = weight_source(&pg, &pi, &off);
        const IrType *t = &g->nodes[c->in[j]].type;
        /* a non-transposed part [k, n_j] is one block only when it is all of its weight's columns */
        if (w->op != OP_PARAM || w->type.rank != 2 || !dim_is_const(t->dims[tb ? 0 : 1], &cols) ||
            (!tb && (!dim_is_const(w->type.dims[1], &full) || full != cols)))
            return false;
        p->part[j] = w;
        p->part_offset[j] = off;
        p->part_n[j] = cols;
    }
    p->nparts = c->nin;
    p->node = p->part[0];
    return true;
}

bool weight_packed_operand(const IrGraph *g, const IrNode *mm, CgParam *p, const IrGraph **wg, int *wi) {
    int64_t off = 0, kk, nn;
    const IrGraph *sg = g;
    int si = mm->in[1];
    const IrNode *w = weight_source(&sg, &si, &off);
    const IrType *bt = &g->nodes[mm->in[1]].type; /* the weight, or a contiguous slice of it */
    bool tb = mm->attrs.trans_b;
    *p = (CgParam){.node = w, .packed = true, .offset = off};
    if (mm->op != OP_MATMUL || bt->rank != 2 || mm->type.rank < 2 || !dim_is_const(bt->dims[tb ? 1 : 0], &kk) ||
        !dim_is_const(bt->dims[tb ? 0 : 1], &nn) ||
        !((w->op == OP_PARAM && w->type.rank >= 2) || (w->op == OP_CONCAT && concat_parts(sg, w, tb, p))))
        return false;
    p->k = kk;
    p->n = nn;
    p->rs = tb ? 1 : nn;
    p->cs = tb ? kk : 1;
    if (wg && wi) {
        *wg = sg;
        *wi = si;
    }
    return true;
}
