/*
 * cg_fused.c — the elementwise expression of a fused kernel (see cg_fused.h)
 * and the emitter of purely elementwise fused kernels.
 *
 * The expression's shape is walked as rows (all dims but the last) and an
 * inner index (the last dim). Every leaf is read through an access: element
 * strides per dim of the expression's shape (0 where it broadcasts, the
 * operand's own strides otherwise, shifted by the start of a slice), so that
 * at the start of a row each access's base is one multiply-add per dim, and
 * inside the row it is either contiguous (vector loads) or constant (one
 * scalar load, splat).
 */
#include "cg_fused.h"

#include <stdio.h>
#include <string.h>

static LLVMValueRef c64(CgKernel *k, int64_t v) { return cg_i64(k->cm, v); }

static int leaf_index(CgFused *f, int node) {
    for (int i = 0; i < f->nleaf; i++)
        if (f->leaf[i] == node)
            return i;
    if (f->nleaf >= CG_MAX_IN)
        return -2;
    f->leaf[f->nleaf] = node;
    return f->nleaf++;
}

static bool is_member(const CgFused *f, int node) { return f->plan->owner[node] == f->root; }

static bool in_expression(const CgFused *f, int node) {
    if (f->kind == FK_ATTENTION || (node == f->matmul && f->kind != FK_GATED))
        return false;
    return !((f->kind == FK_REDUCTION || f->kind == FK_MATMUL_SOFTMAX) && node == f->root);
}

/* The product of a matmul kernel is read from the kernel's output, where the
 * core wrote it (the gate kernel's from a buffer of its own). */
static bool product_in_output(const CgFused *f) { return f->kind == FK_MATMUL || f->kind == FK_MATMUL_SOFTMAX; }

static int add_access(CgFused *f, int view, int leaf, attn_dtype dt, bool wide) {
    if (leaf == -2 || f->naccess >= (int)(sizeof f->access / sizeof f->access[0]))
        return -2;
    f->access[f->naccess] = (CgAccess){.node = view, .leaf = leaf, .dt = dt, .wide = wide};
    return f->naccess++;
}

static int member_index(const CgFused *f, int node) {
    for (int q = 0; q < f->nmem; q++)
        if (f->mem[q] == node)
            return q;
    return -1;
}

/* FK_GATED: the gates, the product's buffer and the stored members' buffers
 * as leaves (after the product's operands), and which members are wide. */
static bool gated_setup(CgFused *f) {
    const IrGraph *g = f->g;
    int last = f->shape->rank - 1;
    if (!dim_is_const(f->shape->dims[last], &f->gate_width) ||
        !dim_is_const(g->nodes[f->matmul].type.dims[last], &f->product_width) || f->gate_width <= 0 ||
        f->product_width % f->gate_width || f->product_width / f->gate_width > FUSE_MAX_GATES)
        return false;
    f->gates = (int)(f->product_width / f->gate_width);
    f->scratch = f->nleaf;
    f->leaf[f->nleaf++] = f->matmul;
    for (int m = 0; m < f->nmem; m++) {
        const IrType *t = &g->nodes[f->mem[m]].type;
        int64_t w;
        f->wide[m] = dim_is_const(t->dims[t->rank - 1], &w) && w == f->product_width;
        if (f->plan->stored[f->mem[m]] && f->mem[m] != f->matmul) {
            if (f->nleaf >= CG_MAX_IN)
                return false;
            f->store_leaf[m] = f->nleaf;
            f->leaf[f->nleaf++] = f->mem[m];
        }
    }
    return true;
}

bool cg_fused_collect(CgFused *f, const FusePlan *p, int root, const int *sites) {
    memset(f, 0, sizeof *f);
    const IrGraph *g = p->g;
    f->plan = p;
    f->g = g;
    f->root = root;
    f->kind = p->kind[root];
    f->matmul = -1;
    f->stacked = -1;
    int count = 0;
    for (int i = 0; i <= root; i++)
        count += p->owner[i] == root;
    if (count > CG_FUSED_MAX)
        return false;
    f->nmem = fuse_members(p, root, f->mem, CG_FUSED_MAX);
    for (int m = 0; m < f->nmem; m++) {
        f->site[m] = sites[f->mem[m]];
        f->pick[m] = f->store_leaf[m] = -1;
        if (g->nodes[f->mem[m]].op == OP_MATMUL && (product_in_output(f) || f->kind == FK_GATED))
            f->matmul = f->mem[m];
    }
    const IrNode *r = &g->nodes[root];
    f->expr = f->kind == FK_REDUCTION || f->kind == FK_MATMUL_SOFTMAX ? r->in[0] : root;
    f->shape = &g->nodes[f->expr].type;
    if (f->kind == FK_REDUCTION) {
        f->leaf[f->nleaf++] = -1; /* the fused input: read through the expression */
        for (int i = 1; i < r->nin; i++)
            f->leaf[f->nleaf++] = r->in[i];
    } else if (product_in_output(f) || f->kind == FK_GATED) {
        f->leaf[f->nleaf++] = g->nodes[f->matmul].in[0];
        f->leaf[f->nleaf++] = g->nodes[f->matmul].in[1];
        if (f->kind == FK_GATED && !gated_setup(f))
            return false;
    } else if (f->kind == FK_ATTENTION) {
        const FuseAttention *a = p->attn[root];
        f->leaf[f->nleaf++] = a->q;
        f->leaf[f->nleaf++] = a->k;
        f->leaf[f->nleaf++] = a->v;
        if (a->mask >= 0)
            f->leaf[f->nleaf++] = a->mask;
        if (a->scale_node >= 0)
            f->leaf[f->nleaf++] = a->scale_node;
    }
    for (int m = 0; m < f->nmem; m++) {
        const IrNode *n = &g->nodes[f->mem[m]];
        f->view_access[m] = -1;
        for (int j = 0; j < 3; j++)
            f->access_of[m][j] = -1;
        if (!in_expression(f, f->mem[m]) || f->mem[m] == f->matmul)
            continue;
        int src = n->op == OP_SLICE ? member_index(f, n->in[0]) : -1;
        int64_t start;
        if (f->gates && src >= 0 && f->wide[src] && fuse_slice_start(n, &start)) { /* a gate of the product's value */
            f->pick[m] = (int)(start / f->gate_width);
            continue;
        }
        if (n->op == OP_SLICE || n->op == OP_EXPAND) {
            if ((f->view_access[m] = add_access(f, f->mem[m], leaf_index(f, n->in[0]), n->type.dtype, f->wide[m])) < 0)
                return false;
            continue;
        }
        for (int j = 0; j < n->nin && j < 3; j++) {
            int o = n->in[j];
            if (o == f->matmul && product_in_output(f))
                f->access_of[m][j] = add_access(f, -1, -1, ATTN_F32, false);
            else if (!is_member(f, o))
                f->access_of[m][j] = add_access(f, -1, leaf_index(f, o), g->nodes[o].type.dtype, f->wide[m]);
            if (f->access_of[m][j] == -2)
                return false;
        }
    }
    return true;
}

/* Contiguous element strides of type t. */
static void dense_strides(CgKernel *k, const IrType *t, LLVMValueRef *s) {
    CgShape sh = cg_shape(k->cm, k->b, k->syms, t);
    LLVMValueRef acc = c64(k, 1);
    for (int d = t->rank - 1; d >= 0; d--) {
        s[d] = acc;
        acc = LLVMBuildMul(k->b, acc, sh.dim[d], "");
    }
}

bool cg_fused_step_in_place(const FusePlan *p, const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i], *scan = ir_scan_of(g);
    /* the step's last dim must come after the time axis: contiguous in place */
    if (!p || n->op != OP_INPUT || !scan || n->index >= scan->scan.nseq || scan->scan.axis == 0 ||
        scan->scan.axis >= n->type.rank)
        return false;
    for (int k = 0; k < g->nout; k++)
        if (g->outputs[k] == i)
            return false;
    for (int u = i + 1; u < g->n; u++)
        for (int j = 0; j < g->nodes[u].nin; j++) {
            int r = p->owner[u];
            if (g->nodes[u].in[j] != i)
                continue;
            if (r < 0 || (p->kind[r] != FK_ELEMENTWISE && p->kind[r] != FK_MATMUL && p->kind[r] != FK_GATED) ||
                g->nodes[u].op == OP_MATMUL)
                return false;
        }
    return true;
}

/* Element strides of node i's buffer in g: dense by its type, except for a
 * sequence step read in place, whose dims before the scan axis step over
 * all steps of the outer sequence. */
static void buffer_strides(CgKernel *k, const IrGraph *g, int i, LLVMValueRef *s) {
    const IrNode *n = &g->nodes[i];
    dense_strides(k, &n->type, s);
    if (!cg_fused_step_in_place(k->fused->plan, g, i))
        return;
    const IrScan *sc = &ir_scan_of(g)->scan;
    LLVMValueRef steps = cg_dim(k->cm, k->b, k->syms, sc->steps);
    for (int d = 0; d < sc->axis; d++)
        s[d] = LLVMBuildMul(k->b, s[d], steps, "");
}

/* Strides of operand node `node` (type t; -1: the expression's own output)
 * read broadcast to shape e (right-aligned; a dim of constant extent 1
 * against a larger one has stride 0). Returns whether the last dim is
 * broadcast. */
static bool broadcast_strides(CgKernel *k, int node, const IrType *t, const IrType *e, LLVMValueRef *s) {
    LLVMValueRef own[ATTN_MAX_RANK];
    if (node >= 0)
        buffer_strides(k, k->fused->g, node, own);
    else
        dense_strides(k, t, own);
    bool last = true;
    int64_t v;
    for (int d = 0; d < e->rank; d++) {
        int od = d - (e->rank - t->rank);
        bool bc = od < 0 || (dim_is_const(t->dims[od], &v) && v == 1 && !(dim_is_const(e->dims[d], &v) && v == 1));
        s[d] = bc ? c64(k, 0) : own[od];
        if (d == e->rank - 1)
            last = bc;
    }
    return last;
}

void cg_fused_check(CgKernel *k) {
    CgFused *f = k->fused;
    LLVMBuilderRef b = k->b;
    const IrGraph *g = f->g;
    int saved = k->site;
    for (int m = 0; m < f->nmem; m++) { /* a slice read in place checks its range as the copy would */
        const IrNode *n = &g->nodes[f->mem[m]];
        if (n->op != OP_SLICE || f->site[m] < 0)
            continue;
        int axis = (int)n->attrs.axis;
        CgShape in = cg_shape(k->cm, b, k->syms, &g->nodes[n->in[0]].type);
        LLVMValueRef len = cg_dim(k->cm, b, k->syms, n->type.dims[axis]);
        LLVMValueRef start = n->start ? cg_dim(k->cm, b, k->syms, n->start) : c64(k, n->attrs.start);
        LLVMValueRef last = LLVMBuildSub(b, LLVMBuildAdd(b, start, len, ""), c64(k, 1), "");
        LLVMValueRef bad = LLVMBuildOr(b, LLVMBuildICmp(b, LLVMIntSLT, start, c64(k, 0), ""),
                                       LLVMBuildICmp(b, LLVMIntSGE, last, in.dim[axis], ""), "");
        bad = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSGT, len, c64(k, 0), ""), bad, "");
        k->site = f->site[m];
        cg_fail_if(k, bad, start, len, in.dim[axis]);
    }
    k->site = saved;
}

void cg_fused_strides(CgKernel *k) {
    CgFused *f = k->fused;
    LLVMBuilderRef b = k->b;
    const IrGraph *g = f->g;
    const IrType *e = f->shape;
    for (int a = 0; a < f->naccess; a++) {
        CgAccess *x = &f->access[a];
        x->offset = c64(k, 0);
        if (x->node >= 0 && g->nodes[x->node].op == OP_SLICE) {
            const IrNode *n = &g->nodes[x->node];
            buffer_strides(k, g, n->in[0], x->stride);
            LLVMValueRef start = n->start ? cg_dim(k->cm, b, k->syms, n->start) : c64(k, n->attrs.start);
            x->offset = LLVMBuildMul(b, start, x->stride[n->attrs.axis], "");
            x->inner_bcast = e->rank == 0;
        } else {
            int src = x->leaf < 0 ? -1 : x->node >= 0 ? g->nodes[x->node].in[0] : f->leaf[x->leaf];
            const IrType *shape = x->wide ? &g->nodes[f->matmul].type : e;
            x->inner_bcast = broadcast_strides(k, src, src < 0 ? shape : &g->nodes[src].type, shape, x->stride);
        }
        x->base = x->offset;
    }
}

void cg_fused_row(CgKernel *k, LLVMValueRef row) {
    CgFused *f = k->fused;
    LLVMBuilderRef b = k->b;
    const IrType *e = f->shape;
    for (int a = 0; a < f->naccess; a++)
        f->access[a].base = f->access[a].offset;
    LLVMValueRef rem = row;
    for (int d = e->rank - 2; d >= 0; d--) {
        LLVMValueRef ext = cg_dim(k->cm, b, k->syms, e->dims[d]);
        LLVMValueRef idx = d > 0 ? LLVMBuildSRem(b, rem, ext, "") : rem;
        if (d > 0)
            rem = LLVMBuildSDiv(b, rem, ext, "");
        for (int a = 0; a < f->naccess; a++)
            f->access[a].base = LLVMBuildAdd(b, f->access[a].base, LLVMBuildMul(b, idx, f->access[a].stride[d], ""), "");
    }
}

/* Loads lanes of dt at ptr[idx..], only those on mask, as the compute type. */
static LLVMValueRef load_masked(CgKernel *k, attn_dtype dt, LLVMValueRef ptr, LLVMValueRef idx, int lanes,
                                LLVMValueRef mask) {
    CgModule *cm = k->cm;
    LLVMTypeRef st = cg_storage_type(cm, dt), vt = LLVMVectorType(st, (unsigned)lanes);
    LLVMValueRef p = LLVMBuildGEP2(k->b, st, ptr, &idx, 1, "");
    LLVMTypeRef ov[] = {vt, cm->ptr};
    const char *name = "llvm.masked.load";
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cm->mod, id, ov, 2);
    LLVMValueRef args[] = {p, LLVMConstInt(cm->i32, (unsigned long long)attn_dtype_size(dt), 0), mask, LLVMConstNull(vt)};
    LLVMValueRef v = LLVMBuildCall2(k->b, LLVMIntrinsicGetType(cm->ctx, id, ov, 2), fn, args, 4, "");
    return cg_widen_loaded(k, dt, v, lanes);
}

static LLVMValueRef load_access(CgKernel *k, const CgAccess *x, LLVMValueRef j, int lanes, LLVMValueRef mask) {
    LLVMValueRef ptr = x->leaf < 0 ? k->out : k->in[x->leaf];
    if (x->inner_bcast)
        return cg_splat(k, cg_load(k, x->dt, ptr, x->base, 1), lanes);
    LLVMValueRef idx = LLVMBuildAdd(k->b, x->base, j, "");
    return mask && lanes > 1 ? load_masked(k, x->dt, ptr, idx, lanes, mask) : cg_load(k, x->dt, ptr, idx, lanes);
}

/* FK_GATED: gate `gate` of units [j, j + lanes) of the product's current
 * row, in the interleaved order of attn_pack_b_gates (j is a multiple of lanes). */
static LLVMValueRef product_value(CgKernel *k, LLVMValueRef j, int gate, int lanes) {
    CgFused *f = k->fused;
    LLVMValueRef idx = LLVMBuildAdd(k->b, LLVMBuildMul(k->b, j, c64(k, f->gates), ""), c64(k, (int64_t)gate * lanes), "");
    return cg_load(k, ATTN_F32, k->in[f->scratch], LLVMBuildAdd(k->b, f->product_row, idx, ""), lanes);
}

/* The members' values at index j of the current row: val[m][0], and for a
 * wide member of a gated kernel val[m][g] at gate g's columns. */
static void eval_members(CgKernel *k, LLVMValueRef j, int lanes, LLVMValueRef mask,
                         LLVMValueRef (*val)[FUSE_MAX_GATES]) {
    CgFused *f = k->fused;
    const IrGraph *g = f->g;
    for (int m = 0; m < f->nmem; m++) {
        int id = f->mem[m];
        const IrNode *n = &g->nodes[id];
        if (!in_expression(f, id))
            continue;
        if (f->pick[m] >= 0) {
            val[m][0] = val[member_index(f, n->in[0])][f->pick[m]];
            continue;
        }
        for (int c = 0; c < (f->wide[m] ? f->gates : 1); c++) {
            LLVMValueRef at = c ? LLVMBuildAdd(k->b, j, c64(k, c * f->gate_width), "") : j;
            if (id == f->matmul) {
                val[m][c] = product_value(k, j, c, lanes);
                continue;
            }
            if (f->view_access[m] >= 0) {
                val[m][c] = load_access(k, &f->access[f->view_access[m]], at, lanes, mask);
                continue;
            }
            LLVMValueRef x[3];
            attn_dtype dt[3];
            for (int o = 0; o < n->nin && o < 3; o++) {
                dt[o] = g->nodes[n->in[o]].type.dtype;
                x[o] = f->access_of[m][o] >= 0 ? load_access(k, &f->access[f->access_of[m][o]], at, lanes, mask)
                                               : val[member_index(f, n->in[o])][c];
            }
            val[m][c] = cg_elementwise_apply(k, n, dt, x, NULL, lanes);
        }
    }
}

LLVMValueRef cg_fused_eval(CgKernel *k, LLVMValueRef j, int lanes, LLVMValueRef mask) {
    CgFused *f = k->fused;
    LLVMValueRef val[CG_FUSED_MAX][FUSE_MAX_GATES];
    eval_members(k, j, lanes, mask, val);
    return val[member_index(f, f->expr)][0];
}

/* ---- purely elementwise kernels ---- */

static LLVMValueRef fe_rows(CgKernel *k) {
    const IrType *e = k->fused->shape;
    LLVMValueRef rows = c64(k, 1);
    for (int d = 0; d + 1 < e->rank; d++)
        rows = LLVMBuildMul(k->b, rows, cg_dim(k->cm, k->b, k->syms, e->dims[d]), "");
    return rows;
}

/* Evaluates and stores the root at [c0, c1) of the current row whose first
 * element is out_base: vectors, then a scalar tail. */
static void store_range(CgKernel *k, LLVMValueRef out_base, LLVMValueRef c0, LLVMValueRef c1) {
    attn_dtype dt = k->fused->g->nodes[k->fused->root].type.dtype;
    int lanes = cg_target_lanes(k->cm->target);
    CgLoop vec, tail;
    LLVMValueRef j = cg_loop_begin(k, &vec, c0, c1, lanes);
    cg_store(k, dt, k->out, LLVMBuildAdd(k->b, out_base, j, ""), cg_fused_eval(k, j, lanes, NULL), lanes);
    cg_loop_end(k, &vec);
    j = cg_loop_begin(k, &tail, vec.i, c1, 1);
    cg_store(k, dt, k->out, LLVMBuildAdd(k->b, out_base, j, ""), cg_fused_eval(k, j, 1, NULL), 1);
    cg_loop_end_scalar_tail(k, &tail);
}

static LLVMValueRef inner_extent(CgKernel *k) {
    const IrType *e = k->fused->shape;
    return e->rank ? cg_dim(k->cm, k->b, k->syms, e->dims[e->rank - 1]) : c64(k, 1);
}

static void fe_body(CgKernel *k, LLVMValueRef lo, LLVMValueRef hi) {
    cg_fused_begin(k);
    LLVMValueRef inner = inner_extent(k);
    CgLoop rows;
    LLVMValueRef r = cg_loop_begin(k, &rows, lo, hi, 1);
    cg_fused_row(k, r);
    store_range(k, LLVMBuildMul(k->b, r, inner, ""), c64(k, 0), inner);
    cg_loop_end(k, &rows);
}

const CgEmitter cg_emit_fused_elementwise = {fe_rows, fe_body};

void cg_fused_begin(CgKernel *k) {
    cg_fused_check(k);
    cg_fused_strides(k);
}

/* The epilogue over rows [r0, r1) and columns [c0, c1) of product `item`. */
static void epilogue(CgKernel *k, LLVMValueRef item, LLVMValueRef r0, LLVMValueRef r1, LLVMValueRef c0, LLVMValueRef c1) {
    const IrType *e = k->fused->shape;
    LLVMValueRef m = cg_dim(k->cm, k->b, k->syms, e->dims[e->rank - 2]);
    LLVMValueRef inner = inner_extent(k);
    CgLoop rows;
    LLVMValueRef r = cg_loop_begin(k, &rows, r0, r1, 1);
    LLVMValueRef row = LLVMBuildAdd(k->b, LLVMBuildMul(k->b, item, m, ""), r, "");
    cg_fused_row(k, row);
    store_range(k, LLVMBuildMul(k->b, row, inner, ""), c0, c1);
    cg_loop_end(k, &rows);
}

/* FK_GATED: prefetches what the epilogue reads from memory at the product's
 * shape (an LSTM's input projection of the step: rows that lie far apart in
 * the sequence of all steps' projections, which no hardware prefetcher
 * follows) for rows [r0, r1) and units [u0, u1), one request per cache line,
 * before the rectangle is computed. Rank-2 expressions only. */
static void prefetch_wide(CgKernel *k, LLVMValueRef r0, LLVMValueRef r1, LLVMValueRef u0, LLVMValueRef u1) {
    CgFused *f = k->fused;
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    int want[CG_FUSED_MAX * 3], n = 0;
    for (int a = 0; a < f->naccess; a++) {
        const CgAccess *x = &f->access[a];
        if (x->wide && x->leaf >= 0 && x->leaf != f->scratch && !x->inner_bcast && x->dt == ATTN_F32)
            want[n++] = a;
    }
    if (!n || f->shape->rank != 2)
        return;
    CgLoop rows, units;
    LLVMValueRef r = cg_loop_begin(k, &rows, r0, r1, 1);
    LLVMValueRef u = cg_loop_begin(k, &units, u0, u1, 16); /* 16 floats: a 64-byte line */
    for (int i = 0; i < n; i++) {
        const CgAccess *x = &f->access[want[i]];
        LLVMValueRef row = LLVMBuildAdd(b, x->offset, LLVMBuildMul(b, r, x->stride[0], ""), "");
        for (int c = 0; c < f->gates; c++) {
            LLVMValueRef idx = LLVMBuildAdd(b, row, LLVMBuildAdd(b, u, c64(k, c * f->gate_width), ""), "");
            LLVMValueRef args[] = {LLVMBuildGEP2(b, cm->f32, k->in[x->leaf], &idx, 1, ""), /* read, keep, data */
                                   LLVMConstInt(cm->i32, 0, 0), LLVMConstInt(cm->i32, 3, 0), LLVMConstInt(cm->i32, 1, 0)};
            cg_intrinsic(cm, b, "llvm.prefetch", cm->ptr, args, 4);
        }
    }
    cg_loop_end(k, &units);
    cg_loop_end(k, &rows);
}

/* FK_GATED: the expression over rows [r0, r1) and packed product columns
 * [c0, c1) (whole groups of gates * lanes): units [c0, c1) / gates, a vector
 * of lanes units at a time (H is a multiple of lanes); writes the root (and
 * its place in the stacked output) and the stored members. */
static void gated_epilogue(CgKernel *k, LLVMValueRef r0, LLVMValueRef r1, LLVMValueRef c0, LLVMValueRef c1) {
    CgFused *f = k->fused;
    LLVMBuilderRef b = k->b;
    const IrGraph *g = f->g;
    int lanes = cg_target_lanes(k->cm->target);
    LLVMValueRef gates = c64(k, f->gates), H = c64(k, f->gate_width);
    LLVMValueRef stacked_rs = f->stacked_steps ? LLVMBuildMul(b, cg_dim(k->cm, b, k->syms, f->stacked_steps), H, "") : H;
    LLVMValueRef val[CG_FUSED_MAX][FUSE_MAX_GATES];
    prefetch_wide(k, r0, r1, LLVMBuildSDiv(b, c0, gates, ""), LLVMBuildSDiv(b, c1, gates, ""));
    CgLoop rows, units;
    LLVMValueRef r = cg_loop_begin(k, &rows, r0, r1, 1);
    cg_fused_row(k, r);
    f->product_row = LLVMBuildMul(b, r, c64(k, f->product_width), "");
    LLVMValueRef out_row = LLVMBuildMul(b, r, H, "");
    LLVMValueRef u = cg_loop_begin(k, &units, LLVMBuildSDiv(b, c0, gates, ""), LLVMBuildSDiv(b, c1, gates, ""), lanes);
    eval_members(k, u, lanes, NULL, val);
    LLVMValueRef at = LLVMBuildAdd(b, out_row, u, "");
    for (int m = 0; m < f->nmem; m++) {
        const IrNode *n = &g->nodes[f->mem[m]];
        if (f->store_leaf[m] >= 0)
            cg_store(k, n->type.dtype, k->in[f->store_leaf[m]], at, val[m][0], lanes);
        if (f->mem[m] != f->root)
            continue;
        cg_store(k, n->type.dtype, k->out, at, val[m][0], lanes);
        if (f->stacked >= 0)
            cg_store(k, n->type.dtype, k->in[f->stacked], LLVMBuildAdd(b, LLVMBuildMul(b, r, stacked_rs, ""), u, ""),
                     val[m][0], lanes);
    }
    cg_loop_end(k, &units);
    cg_loop_end(k, &rows);
}

/* What an epilogue hook computes over its rectangle. */
typedef enum EpiMode { EPI_ELEMENTWISE, EPI_GATES, EPI_SOFTMAX } EpiMode;

/* FK_MATMUL_SOFTMAX: rows [r0, r1) of product `item` are whole rows. */
static void softmax_epilogue(CgKernel *k, LLVMValueRef item, LLVMValueRef r0, LLVMValueRef r1) {
    const IrType *e = k->fused->shape;
    LLVMValueRef m = cg_dim(k->cm, k->b, k->syms, e->dims[e->rank - 2]);
    LLVMValueRef first = LLVMBuildMul(k->b, item, m, "");
    cg_softmax_fused_rows(k, inner_extent(k), LLVMBuildAdd(k->b, first, r0, ""), LLVMBuildAdd(k->b, first, r1, ""));
}

/* The epilogue hook's function: loads the kernel's operands from the hook's
 * argument and computes `mode` over the rectangle it is given. */
static LLVMValueRef epilogue_fn(CgKernel *k, EpiMode mode) {
    CgModule *cm = k->cm;
    CgFused *f = k->fused;
    char name[300];
    snprintf(name, sizeof name, "%s_epi", LLVMGetValueName(k->fn));
    LLVMTypeRef args[] = {cm->ptr, cm->i64, cm->i64, cm->i64, cm->i64};
    LLVMValueRef fn = LLVMAddFunction(cm->mod, name, LLVMFunctionType(cm->void_t, args, 5, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    CgKernel e = *k;
    e.fn = fn;
    e.b = LLVMCreateBuilderInContext(cm->ctx);
    LLVMPositionBuilderAtEnd(e.b, LLVMAppendBasicBlockInContext(cm->ctx, fn, "entry"));
    LLVMValueRef arg = LLVMGetParam(fn, 0);
    LLVMValueRef slot[CG_MAX_IN + 3];
    for (int i = 0; i < f->nleaf + 3; i++) {
        LLVMValueRef idx = cg_i64(cm, i);
        slot[i] = LLVMBuildGEP2(e.b, cm->i64, arg, &idx, 1, "");
    }
    e.ctx = LLVMBuildLoad2(e.b, cm->ptr, slot[0], "ctx");
    e.syms = cg_ctx_ptr(cm, e.b, e.ctx, CTX_SYMS);
    e.out = LLVMBuildLoad2(e.b, cm->ptr, slot[1], "out");
    for (int i = 0; i < f->nleaf; i++)
        e.in[i] = LLVMBuildLoad2(e.b, cm->ptr, slot[2 + i], "");
    LLVMValueRef item = LLVMBuildLoad2(e.b, cm->i64, slot[2 + f->nleaf], "item");
    cg_fused_strides(&e);
    if (mode == EPI_GATES)
        gated_epilogue(&e, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), LLVMGetParam(fn, 3), LLVMGetParam(fn, 4));
    else if (mode == EPI_SOFTMAX)
        softmax_epilogue(&e, item, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2));
    else
        epilogue(&e, item, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), LLVMGetParam(fn, 3), LLVMGetParam(fn, 4));
    LLVMBuildRetVoid(e.b);
    LLVMDisposeBuilder(e.b);
    return fn;
}

LLVMValueRef cg_fused_epilogue_fn(CgKernel *k) { return epilogue_fn(k, EPI_ELEMENTWISE); }
LLVMValueRef cg_fused_gated_epilogue_fn(CgKernel *k) { return epilogue_fn(k, EPI_GATES); }
LLVMValueRef cg_fused_softmax_epilogue_fn(CgKernel *k) { return epilogue_fn(k, EPI_SOFTMAX); }
