/*
 * cg_attention_node.c — code generation of a fused attention kernel
 * (compiler/fuse/fuse_attention.c): fills the attention core's descriptor
 * (cg_attention.h) from the operands' shapes and calls it once; the core
 * tiles queries and keys and spreads the work over the pool itself.
 *
 * Operands (cg_fused.c): q [.., L, D], k [.., S, D] (read as kᵀ), v [.., S, Dv],
 * then the mask [.., L, S] broadcast to the scores when there is one, then a
 * one-element scale computed per call when there is one. Up to two batch
 * dims, each operand broadcast over them as matmul broadcasts. q, k and v may
 * be views of a stored value (heads split out of a projection, FuseView): the
 * kernel then reads that value with the view's strides, and no copy is made.
 */
#include "cg_attention.h"
#include "cg_fused.h"

/* Element stride of type t along dim d of a value of type `full` that t is
 * broadcast to (right-aligned; 0 where t has no such dim or extent 1). */
static LLVMValueRef bcast_stride(CgKernel *k, const IrType *t, const IrType *full, int d) {
    int od = d - (full->rank - t->rank);
    int64_t v;
    if (od < 0 || (dim_is_const(t->dims[od], &v) && v == 1 && !(dim_is_const(full->dims[d], &v) && v == 1)))
        return cg_i64(k->cm, 0);
    CgShape s = cg_shape(k->cm, k->b, k->syms, t);
    return cg_shape_numel(k->cm, k->b, &s, od + 1, s.rank);
}

static void put(CgKernel *k, LLVMValueRef desc, int field, LLVMValueRef v) {
    LLVMValueRef idx = cg_i64(k->cm, field);
    LLVMBuildStore(k->b, v, LLVMBuildGEP2(k->b, k->cm->i64, desc, &idx, 1, ""));
}

/* The two batch strides of operand type t (batch dims of `full`, padded on the left with extent 1). */
static void batch_strides(CgKernel *k, const IrType *t, const IrType *full, LLVMValueRef desc, int f0) {
    int nb = full->rank - 2;
    for (int j = 0; j < 2; j++) {
        int d = nb - 2 + j; /* dim of full that batch index j is, or < 0 */
        put(k, desc, f0 + j, d < 0 ? cg_i64(k->cm, 0) : bcast_stride(k, t, full, d));
    }
}

/* Operand i (q, k, v) read through its view chain (a->views[i]): its first
 * element, two batch strides and row stride in the descriptor at f0. */
static void view_operand(CgKernel *k, const FuseAttention *a, int i, const IrType *full, LLVMValueRef desc, int f0) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    const FuseView *v = &a->views[i];
    const IrType *t = &k->fused->g->nodes[a->view[i]].type;
    CgShape s = cg_shape(cm, b, k->syms, k->in_type[i]); /* the stored value the view reads */
    LLVMValueRef dense[ATTN_MAX_RANK], stride[ATTN_MAX_RANK], offset = cg_i64(cm, 0);
    for (int d = s.rank - 1; d >= 0; d--)
        dense[d] = d == s.rank - 1 ? cg_i64(cm, 1) : LLVMBuildMul(b, dense[d + 1], s.dim[d + 1], "");
    for (int d = 0; d < v->rank; d++)
        stride[d] = LLVMBuildMul(b, cg_i64(cm, v->mult[d]), dense[v->src_dim[d]], "");
    for (int q = 0; q < v->nterm; q++)
        offset = LLVMBuildAdd(b, offset,
                              LLVMBuildMul(b, cg_i64(cm, v->term_start[q] * v->term_mult[q]), dense[v->term_dim[q]], ""), "");
    LLVMValueRef at = LLVMBuildGEP2(b, cm->f32, k->in[i], &offset, 1, "");
    LLVMBuildStore(b, at, LLVMBuildGEP2(b, cm->i64, desc, (LLVMValueRef[]){cg_i64(cm, f0)}, 1, ""));
    int nb = full->rank - 2;
    for (int j = 0; j < 2; j++) {
        int d = nb - 2 + j, od = d - (full->rank - t->rank);
        int64_t e;
        bool bc = d < 0 || od < 0 || (dim_is_const(t->dims[od], &e) && e == 1 && !(dim_is_const(full->dims[d], &e) && e == 1));
        put(k, desc, f0 + 1 + j, bc ? cg_i64(cm, 0) : stride[od]);
    }
    put(k, desc, f0 + 3, stride[t->rank - 2]);
}

/* Element strides, in the kernel's output, of the dims of the P·V result:
 * dense, or through the permute that merges the heads back when that is the
 * kernel's root (output dim i is P·V's dim perm[i]). */
static void out_strides(CgKernel *k, const FuseAttention *a, LLVMValueRef *s) {
    const IrNode *root = &k->fused->g->nodes[k->fused->root];
    const CgShape *os = &k->out_shape;
    LLVMValueRef dense[ATTN_MAX_RANK];
    for (int d = os->rank - 1; d >= 0; d--)
        dense[d] = d == os->rank - 1 ? cg_i64(k->cm, 1) : LLVMBuildMul(k->b, dense[d + 1], os->dim[d + 1], "");
    for (int d = 0; d < os->rank; d++)
        s[k->fused->root == a->pv ? d : root->attrs.perm[d]] = dense[d];
}

static void attention_body(CgKernel *k, LLVMValueRef lo, LLVMValueRef hi) {
    (void)lo;
    (void)hi;
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    const CgFused *f = k->fused;
    const FuseAttention *a = f->plan->attn[f->root];
    const IrType *o = &f->g->nodes[a->pv].type, *scores = &f->g->nodes[a->scores].type;
    CgShape os = cg_shape(cm, b, k->syms, o);
    /* the operands as the products see them (a view's type when read through one) */
    const IrType *qt = a->view[0] >= 0 ? &f->g->nodes[a->view[0]].type : k->in_type[0];
    const IrType *kt = a->view[1] >= 0 ? &f->g->nodes[a->view[1]].type : k->in_type[1];
    const IrType *vt = a->view[2] >= 0 ? &f->g->nodes[a->view[2]].type : k->in_type[2];
    LLVMValueRef desc = LLVMBuildArrayAlloca(b, cm->i64, cg_i64(cm, AF_COUNT), "attention_args");
    int r = o->rank;
    for (int j = 0; j < 2; j++) {
        int d = r - 4 + j;
        put(k, desc, AF_NB0 + j, d < 0 ? cg_i64(cm, 1) : os.dim[d]);
    }
    put(k, desc, AF_L, os.dim[r - 2]);
    put(k, desc, AF_S, cg_dim(cm, b, k->syms, kt->dims[kt->rank - 2]));
    put(k, desc, AF_D, cg_dim(cm, b, k->syms, qt->dims[qt->rank - 1]));
    put(k, desc, AF_DV, os.dim[r - 1]);
    const IrType *types[] = {qt, kt, vt};
    const int fields[] = {AF_Q, AF_K, AF_V};
    for (int i = 0; i < 3; i++) {
        const IrType *full = i == 0 ? scores : o; /* q's batch dims as the scores see them; k, v likewise */
        if (a->view[i] >= 0) {
            view_operand(k, a, i, full, desc, fields[i]);
            continue;
        }
        LLVMBuildStore(b, k->in[i], LLVMBuildGEP2(b, cm->i64, desc, (LLVMValueRef[]){cg_i64(cm, fields[i])}, 1, ""));
        batch_strides(k, types[i], full, desc, fields[i] + 1);
        put(k, desc, fields[i] + 3, k->in_shape[i].dim[types[i]->rank - 1]);
    }
    LLVMBuildStore(b, k->out, LLVMBuildGEP2(b, cm->i64, desc, (LLVMValueRef[]){cg_i64(cm, AF_O)}, 1, ""));
    LLVMValueRef ost[ATTN_MAX_RANK];
    out_strides(k, a, ost);
    for (int j = 0; j < 2; j++) {
        int d = r - 4 + j;
        put(k, desc, AF_O_S0 + j, d < 0 ? cg_i64(cm, 0) : ost[d]);
    }
    put(k, desc, AF_O_RS, ost[r - 2]);
    LLVMTypeRef f64 = LLVMDoubleTypeInContext(cm->ctx);
    LLVMValueRef scale = LLVMConstReal(f64, (double)a->scale);
    int next = 3;
    int mask_leaf = a->mask >= 0 ? next++ : -1;
    if (a->scale_node >= 0) {
        LLVMValueRef s = LLVMBuildFPExt(b, LLVMBuildLoad2(b, cm->f32, k->in[next], ""), f64, "");
        scale = a->scale_divides ? LLVMBuildFDiv(b, scale, s, "") : LLVMBuildFMul(b, scale, s, "");
    }
    LLVMBuildStore(b, scale, LLVMBuildGEP2(b, cm->i64, desc, (LLVMValueRef[]){cg_i64(cm, AF_SCALE)}, 1, ""));
    LLVMValueRef mask = mask_leaf >= 0 ? k->in[mask_leaf] : LLVMConstNull(cm->ptr);
    LLVMBuildStore(b, mask, LLVMBuildGEP2(b, cm->i64, desc, (LLVMValueRef[]){cg_i64(cm, AF_MASK)}, 1, ""));
    put(k, desc, AF_MASK_KIND, cg_i64(cm, mask_leaf < 0 ? ATTN_MASK_NONE : a->additive ? ATTN_MASK_ADD : ATTN_MASK_BOOL));
    if (mask_leaf >= 0) {
        const IrType *mt = k->in_type[mask_leaf];
        batch_strides(k, mt, scores, desc, AF_M0);
        put(k, desc, AF_MR, bcast_stride(k, mt, scores, r - 2));
        put(k, desc, AF_MC, bcast_stride(k, mt, scores, r - 1));
    } else
        for (int i = AF_M0; i <= AF_MC; i++)
            put(k, desc, i, cg_i64(cm, 0));
    LLVMValueRef fn = cg_attention_fn(cm);
    LLVMValueRef args[] = {desc, cg_ctx_ptr(cm, b, k->ctx, CTX_POOL)};
    LLVMBuildCall2(b, LLVMGlobalGetValueType(fn), fn, args, 2, "");
}

/* One row: the core parallelises itself. */
const CgEmitter cg_emit_attention = {NULL, attention_body};
