/*
 * cg_entry.c — the driver and planning functions of an entry point (see
 * cg_entry.h).
 *
 * Every node of the entry's graph and of its scan bodies has a global id.
 * A node's value lives in one of: the caller's input, a weight slot, a
 * module constant, its operand's buffer (reshape, scan captures, final scan
 * carries), or its own buffer in the workspace. Buffers whose lifetimes don't
 * overlap share a slot (cg_plan.h); the slots are sized and laid out once per
 * run from the per-call dims (PREFIX_workspace validates them first); a scan
 * body's buffers are reused by every step.
 */
#include "cg_entry.h"
#include "cg_fused.h"
#include "cg_plan.h"
#include "text.h"
#include "op_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ALIGN = 64 };

/* What the generator knows of one node, by its global id (gid). */
typedef struct GenValue {
    LLVMValueRef ptr;          /* its buffer in the function being built */
    int slot;                  /* workspace slot of its buffer, or -1 */
    int out_of;                /* computed in the caller's output buffer: which output, else -1 */
    bool in_place;             /* a new carried state computed in its carried buffer */
    int site;                  /* error site of its kernel, or -1 */
    int shape_site;            /* site of its per-call shape check, or -1 */
    int param;                 /* PARAM: its slot; MATMUL: its packed weight's slot; else -1 */
    bool bind_concat;          /* a CONCAT of weights packed by some product at bind time */
    LLVMValueRef kernel;       /* kernel roots: the kernel function, built once */
    int kindex;                /* kernel roots: number of the kernel (CgEntryInfo.kernel_names) */
    LLVMValueRef stacked_at;   /* gate kernel roots that are per-step outputs: this step's place in the
                                  stacked output */
    const Dim *stacked_steps;  /* and the steps of their scan when it runs along axis 1
                                  (CgFused.stacked_steps) */
} GenValue;

/* One graph of the entry: the entry's own or a scan body. */
typedef struct GenGraph {
    const IrGraph *g;
    int base;                  /* global id of its node 0 */
} GenGraph;

typedef struct Gen {
    CgModule *cm;
    const IrEntry *e;
    const char *prefix;
    CgEntryInfo *info;
    int ngraphs;
    GenGraph *graphs;          /* the entry's graph, then its scan bodies, depth first */
    int total;                 /* nodes in all graphs */
    GenValue *value;           /* per node, by global id */
    int nslots;
    LLVMValueRef *slot_at;     /* per slot: its size, then its offset, in the function being built */
    char *err;
    const FusePlan *plan;      /* which kernel computes each node */
} Gen;

/* Whether node i of g is computed inside another node's kernel. */
static bool fused_away(const Gen *G, const IrGraph *g, int i) {
    const FusePlan *p = fuse_plan_find(G->plan, g);
    return p && p->owner[i] >= 0 && p->owner[i] != i;
}

/* Whether node i of g is computed inside another node's kernel that also
 * writes it to a buffer of its own (fuse.h, FusePlan.stored). */
static bool stored_member(const Gen *G, const IrGraph *g, int i) {
    const FusePlan *p = fuse_plan_find(G->plan, g);
    return p && p->stored[i] && fused_away(G, g, i);
}

static int gid(const Gen *G, const IrGraph *g, int i) {
    for (int k = 0; k < G->ngraphs; k++)
        if (G->graphs[k].g == g)
            return G->graphs[k].base + i;
    return -1;
}

static GenValue *value_of(const Gen *G, const IrGraph *g, int i) { return &G->value[gid(G, g, i)]; }

static void collect_graphs(Gen *G, const IrGraph *g) {
    G->graphs[G->ngraphs].g = g;
    G->graphs[G->ngraphs++].base = G->total;
    G->total += g->n;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_SCAN)
            collect_graphs(G, g->nodes[i].body);
}

static int count_graphs(const IrGraph *g) {
    int n = 1;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_SCAN)
            n += count_graphs(g->nodes[i].body);
    return n;
}

/* src into dst with every '%' doubled: the text of a site (see add_site). */
static void site_escape(const char *src, char *dst, size_t len) {
    size_t k = 0;
    for (; *src && k + 2 < len; src++) {
        if (*src == '%')
            dst[k++] = '%';
        dst[k++] = *src;
    }
    dst[k] = '\0';
}

/* "file:line:col: " of a node, escaped for a site. */
static void loc_text(const IrNode *n, char *buf, size_t len) {
    char loc[1024];
    if (n->loc.file)
        snprintf(loc, sizeof loc, "%s:%d:%d: ", n->loc.file->path, n->loc.line, n->loc.col);
    else
        loc[0] = '\0';
    site_escape(loc, buf, len);
}

/* Records a failed allocation (the first error stays). */
static void out_of_memory(Gen *G) {
    if (!G->err)
        G->err = cg_msg(ATTN_MSG_NOMEM);
}

/* Adds an error site "LOC: error: MSG". MSG keeps its "%lld" for the numbers
 * the code reports; any other '%' of a site is doubled, the source path's
 * included: the runner expands a site itself (compiled_run.c site_message),
 * never as a printf format. */
static int add_site(Gen *G, const IrNode *n, const char *msg) {
    char loc[2048];
    loc_text(n, loc, sizeof loc);
    char **s = realloc(G->info->sites, sizeof(char *) * (size_t)(G->info->nsites + 1));
    if (!s || !(s[G->info->nsites] = cg_msg("%serror: %s", loc, msg))) {
        if (s)
            G->info->sites = s;
        out_of_memory(G);
        return -1;
    }
    G->info->sites = s;
    return G->info->nsites++;
}

static bool type_symbolic(const IrType *t) {
    int64_t v;
    for (int i = 0; i < t->rank; i++)
        if (!dim_is_const(t->dims[i], &v))
            return true;
    return false;
}

/* ---- numbering of weights, sites and packed operands ---- */

static int add_param(Gen *G, CgParam p) {
    CgParam *ps = realloc(G->info->params, sizeof(CgParam) * (size_t)(G->info->nparams + 1));
    if (!ps) {
        out_of_memory(G);
        return -1;
    }
    G->info->params = ps;
    ps[G->info->nparams] = p;
    return G->info->nparams++;
}

/* Whether d is computed per call with arithmetic that may have no valid value. */
static bool dim_computed(const Dim *d) { return d && d->kind != DIM_CONST && d->kind != DIM_SYM; }

/* A site whose message names dim d: PREFIX "dim TEXT" SUFFIX ('%' in TEXT
 * doubled, see add_site). */
static int dim_site(Gen *G, const IrNode *n, const char *prefix, const Dim *d, const char *suffix) {
    char text[256], quoted[512], msg[640];
    dim_format(d, text, sizeof text);
    site_escape(text, quoted, sizeof quoted);
    snprintf(msg, sizeof msg, "%s%s%s", prefix, quoted, suffix);
    return add_site(G, n, msg);
}

/* Two sites per dim of t, at node n: "dim B*T has no valid value in this
 * call", "dim T-5 is -1 in this call; a dim must not be negative". Returns
 * the first, or -1 for rank 0. */
static int dims_sites(Gen *G, const IrNode *n, const IrType *t) {
    int first = -1;
    for (int d = 0; d < t->rank; d++) {
        int s = dim_site(G, n, "dim ", t->dims[d], " has no valid value in this call");
        dim_site(G, n, "dim ", t->dims[d], " is %lld in this call; a dim must not be negative");
        first = first < 0 ? s : first;
    }
    return first;
}

/* Sites of the checks of a scan's per-step outputs, made at the scan before
 * its body runs, as the interpreter does: dims_sites of each, one after
 * another; -1 when all are constant. */
static int scan_sites(Gen *G, const IrNode *n) {
    bool symbolic = false;
    for (int i = 0; i < n->scan.nyield; i++)
        symbolic |= type_symbolic(&n->body->nodes[n->body->outputs[i]].type);
    int first = -1;
    for (int i = 0; symbolic && i < n->scan.nyield; i++) {
        int s = dims_sites(G, n, &n->body->nodes[n->body->outputs[i]].type);
        first = first < 0 ? s : first;
    }
    return first;
}

/* Sites of the per-call checks of n's shape, the interpreter's messages: two
 * per dim ("dim B*T has no valid value in this call", "dim T-5 is -1 in this
 * call; a dim must not be negative"), one for the size, and for a slice whose
 * start is computed per call one for the start; -1 when nothing can go wrong
 * (constant dims of a reasonable size). */
static int shape_sites(Gen *G, const IrNode *n) {
    const IrType *t = &n->type;
    char ty[256], msg[512];
    int64_t numel = 1, v;
    bool known = true, over = false, start = n->op == OP_SLICE && dim_computed(n->start);
    for (int d = 0; d < t->rank; d++) {
        known &= dim_is_const(t->dims[d], &v);
        if (known)
            over |= __builtin_mul_overflow(numel, v, &numel);
    }
    if (known && !over && numel <= ((int64_t)1 << 38) && !start)
        return -1;
    int first = dims_sites(G, n, t);
    if (known) { /* constant and too large: the interpreter's text, with the numbers */
        size_t k = (size_t)snprintf(ty, sizeof ty, "[");
        for (int d = 0; d < t->rank && k < sizeof ty; d++) {
            dim_is_const(t->dims[d], &v);
            k += (size_t)snprintf(ty + k, sizeof ty - k, "%s%lld", d ? ", " : "", (long long)v);
        }
        if (k < sizeof ty)
            snprintf(ty + k, sizeof ty - k, "]");
    } else {
        char type[256];
        ir_type_format(t, type, sizeof type);
        site_escape(type, ty, sizeof ty);
    }
    snprintf(msg, sizeof msg, "a tensor of shape %s is too large%s", ty, known ? "" : " in this call (%lld elements)");
    int s = add_site(G, n, msg);
    if (start)
        add_site(G, n, "slice start has no value");
    return first < 0 ? s : first;
}

static void number_nodes(Gen *G) {
    for (int k = 0; k < G->ngraphs; k++) {
        const IrGraph *g = G->graphs[k].g;
        for (int i = 0; i < g->n; i++) {
            const IrNode *n = &g->nodes[i];
            GenValue *v = &G->value[G->graphs[k].base + i];
            v->site = v->shape_site = v->param = -1;
            if (n->op == OP_SCAN)
                v->shape_site = scan_sites(G, n);
            else if (n->op != OP_INPUT)
                v->shape_site = shape_sites(G, n);
            if (n->op == OP_PARAM)
                v->param = add_param(G, (CgParam){.node = n});
            else if (n->op == OP_GATHER)
                v->site = add_site(G, n, "id %lld at position %lld is out of range for an embedding table of %lld rows");
            else if (n->op == OP_CHECK_LENGTHS)
                v->site = add_site(G, n, "lengths[%lld] is %lld; a length must be at least 1 and at most the padded length %lld");
            else if (n->op == OP_SLICE)
                v->site = add_site(G, n, "slice [%lld, +%lld) is out of range for a dim of %lld");
            else if (n->op == OP_RESHAPE)
                v->site = add_site(G, n, "reshape of %lld elements into %lld");
            else if (n->op == OP_MATMUL) {
                const IrGraph *wg;
                int wi;
                CgParam cp;
                if (weight_packed_operand(g, n, &cp, &wg, &wi)) {
                    const FusePlan *p = fuse_plan_find(G->plan, g);
                    int64_t H;
                    /* a gate kernel's product: columns interleaved by gate (fuse_gates.c) */
                    if (stored_member(G, g, i) && p->kind[p->owner[i]] == FK_GATED &&
                        dim_is_const(g->nodes[p->owner[i]].type.dims[n->type.rank - 1], &H) && H > 0)
                        cp.gates = (int)(cp.n / H);
                    cp.dtype = G->cm->weights_dtype;
                    v->param = add_param(G, cp);
                    if (cp.nparts)
                        value_of(G, wg, wi)->bind_concat = true;
                }
            }
        }
    }
}

static bool packed_at_bind(const Gen *G, const IrGraph *g, int i);

/* Whether every reader of value i of g is a product that packs it at bind
 * time, directly or through the captured input of a scan body; with
 * `concats`, a concatenation of weights packed at bind time counts as such a
 * reader too, and with `gathers` an embedding lookup in it as its table. */
static bool read_only_packed(const Gen *G, const IrGraph *g, int i, bool concats, bool gathers) {
    for (int u = i + 1; u < g->n; u++) {
        const IrNode *n = &g->nodes[u];
        for (int j = 0; j < n->nin; j++) {
            if (n->in[j] != i)
                continue;
            if (n->op == OP_MATMUL && j == 1 && n->in[0] != i && value_of(G, g, u)->param >= 0)
                continue;
            if (concats && n->op == OP_CONCAT && packed_at_bind(G, g, u))
                continue;
            if (gathers && n->op == OP_GATHER && j == 0 && n->in[1] != i)
                continue;
            if (n->op != OP_SCAN || j < n->scan.nseq + n->scan.ncarry)
                return false;
            int b = ir_body_input(n->body, j);
            if (b >= 0 && !read_only_packed(G, n->body, b, concats, gathers))
                return false;
        }
    }
    for (int k = 0; k < g->nout; k++)
        if (g->outputs[k] == i)
            return false;
    return true;
}

/* Whether node i of g is a concatenation of weights that the runner packs at
 * bind time for the products reading it: it gets neither kernel nor buffer. */
static bool packed_at_bind(const Gen *G, const IrGraph *g, int i) {
    int id = gid(G, g, i);
    return id >= 0 && G->value[id].bind_concat && read_only_packed(G, g, i, false, false);
}

/* Whether value i of g (a weight, or a scan body's capture of one) is read
 * only packed: by products that pack it, or by concatenations packed at bind
 * time, directly or through scan captures. Its slot's data is then never read. */
static bool weight_unread(const Gen *G, const IrGraph *g, int i) { return read_only_packed(G, g, i, true, false); }

/* Marks the slots of weights read only packed (CgParam.unread), and of those
 * read unpacked only as embedding tables that the runner can give as the
 * file's BF16 bits (CgParam.bf16): their gathers widen the rows they copy. */
static void mark_weight_slots(Gen *G) {
    for (int k = 0; k < G->ngraphs; k++) {
        const IrGraph *g = G->graphs[k].g;
        for (int i = 0; i < g->n; i++) {
            int slot = G->value[G->graphs[k].base + i].param;
            if (g->nodes[i].op != OP_PARAM || slot < 0)
                continue;
            CgParam *cp = &G->info->params[slot];
            cp->unread = weight_unread(G, g, i);
            cp->bf16 = !cp->unread && G->cm->weight_bf16 && read_only_packed(G, g, i, true, true) &&
                       G->cm->weight_bf16(G->cm->weight_ctx, &g->nodes[i]);
        }
    }
}

/* The slot of the table gather n of g reads when it holds BF16 bits
 * (CgParam.bf16): a weight, or a scan body's capture of one; else -1. */
static int bf16_table_slot(const Gen *G, const IrGraph *g, const IrNode *n) {
    int i = n->in[0];
    for (;;) {
        const IrNode *t = &g->nodes[i];
        const IrNode *scan = t->op == OP_INPUT ? ir_scan_of(g) : NULL;
        if (!scan || t->index < scan->scan.nseq + scan->scan.ncarry)
            break;
        i = scan->in[t->index];
        g = g->parent;
    }
    int slot = g->nodes[i].op == OP_PARAM ? value_of(G, g, i)->param : -1;
    return slot >= 0 && G->info->params[slot].bf16 ? slot : -1;
}

/* ---- a function being built: a CgKernel lends its loop and failure helpers ---- */

static CgKernel fn_begin(Gen *G, LLVMValueRef fn, LLVMValueRef ctx, LLVMValueRef syms) {
    CgKernel k = {.cm = G->cm, .fn = fn, .ctx = ctx, .syms = syms, .site = -1};
    k.b = LLVMCreateBuilderInContext(G->cm->ctx);
    LLVMPositionBuilderAtEnd(k.b, LLVMAppendBasicBlockInContext(G->cm->ctx, fn, "entry"));
    return k;
}

static bool owns_buffer(const Gen *G, const IrGraph *g, const IrNode *n, int i) {
    if ((fused_away(G, g, i) && !stored_member(G, g, i)) || packed_at_bind(G, g, i))
        return false;
    if (n->op == OP_INPUT) {
        const IrNode *scan = ir_scan_of(g);
        if (!scan)
            return false;
        if (n->index < scan->scan.nseq) /* a step of axis 0 is a plain range of the sequence */
            return scan->scan.axis != 0 && !cg_fused_step_in_place(fuse_plan_find(G->plan, g), g, i);
        return n->index < scan->scan.nseq + scan->scan.ncarry;
    }
    if (n->op == OP_RESULT) /* final carries stay in the body's buffer */
        return n->attrs.axis < g->nodes[n->in[0]].scan.nyield;
    return fuse_has_kernel(g, n);
}

static LLVMValueRef bytes_of(Gen *G, CgKernel *k, const IrType *t) {
    CgShape s = cg_shape(G->cm, k->b, k->syms, t);
    return LLVMBuildMul(k->b, cg_shape_numel(G->cm, k->b, &s, 0, s.rank), cg_i64(G->cm, (int64_t)attn_dtype_size(t->dtype)), "");
}

/* Returns -(site+1) from k's function (the workspace function, whose ctx
 * argument receives the number of the message) when `bad` holds. */
static void fail_shape(Gen *G, CgKernel *k, LLVMValueRef bad, int site, LLVMValueRef number) {
    CgModule *cm = G->cm;
    LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "bad_shape");
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "shape_ok");
    LLVMBuildCondBr(k->b, bad, fail, ok);
    LLVMPositionBuilderAtEnd(k->b, fail);
    LLVMBuildStore(k->b, number, k->ctx);
    LLVMBuildRet(k->b, cg_i64(cm, -(int64_t)site - 1));
    LLVMPositionBuilderAtEnd(k->b, ok);
}

/* Checks each dim of t per call (sites from dims_sites): that it has a valid
 * value, then that it is not negative. Returns the element count as a double;
 * ORs into *over whether the count passes int64 on the way (before a zero dim). */
static LLVMValueRef check_dims(Gen *G, CgKernel *k, const IrType *t, int first_site, LLVMValueRef *over) {
    CgModule *cm = G->cm;
    LLVMBuilderRef b = k->b;
    LLVMTypeRef f64 = LLVMDoubleTypeInContext(cm->ctx);
    LLVMValueRef numel = LLVMConstReal(f64, 1.0);
    for (int d = 0; d < t->rank; d++) {
        LLVMValueRef bad = LLVMConstInt(LLVMInt1TypeInContext(cm->ctx), 0, 0);
        LLVMValueRef dim = cg_dim_checked(cm, b, k->syms, t->dims[d], &bad);
        if (dim_computed(t->dims[d]))
            fail_shape(G, k, bad, first_site + 2 * d, cg_i64(cm, 0));
        fail_shape(G, k, LLVMBuildICmp(b, LLVMIntSLT, dim, cg_i64(cm, 0), ""), first_site + 2 * d + 1, dim);
        numel = LLVMBuildFMul(b, numel, LLVMBuildSIToFP(b, dim, f64, ""), "");
        *over = LLVMBuildOr(b, *over, LLVMBuildFCmp(b, LLVMRealOGT, numel, LLVMConstReal(f64, 9.0e18), ""), "");
    }
    return numel;
}

/* The per-call checks of n's shape (sites from shape_sites), in the
 * interpreter's order: its dims, its size, a slice's start. */
static void check_shape(Gen *G, CgKernel *k, const IrNode *n, int first_site) {
    CgModule *cm = G->cm;
    LLVMBuilderRef b = k->b;
    LLVMTypeRef f64 = LLVMDoubleTypeInContext(cm->ctx);
    LLVMValueRef no = LLVMConstInt(LLVMInt1TypeInContext(cm->ctx), 0, 0), over = no;
    LLVMValueRef numel = check_dims(G, k, &n->type, first_site, &over), lim = LLVMConstReal(f64, 9.0e18);
    /* the element count, clamped into i64, is the message's number */
    LLVMValueRef clamped = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, numel, lim, ""), lim, numel, "");
    LLVMValueRef huge = LLVMBuildFCmp(b, LLVMRealOGT, numel, LLVMConstReal(f64, (double)((int64_t)1 << 38)), "");
    int size_site = first_site + 2 * n->type.rank;
    fail_shape(G, k, LLVMBuildOr(b, huge, over, ""), size_site, LLVMBuildFPToSI(b, clamped, cm->i64, ""));
    if (n->op == OP_SLICE && dim_computed(n->start)) {
        LLVMValueRef bad = no;
        cg_dim_checked(cm, b, k->syms, n->start, &bad);
        fail_shape(G, k, bad, size_site + 1, cg_i64(cm, 0));
    }
}

/* The checks of a scan's per-step outputs (sites from scan_sites). */
static void check_scan(Gen *G, CgKernel *k, const IrNode *n, int first_site) {
    LLVMValueRef over = LLVMConstInt(LLVMInt1TypeInContext(G->cm->ctx), 0, 0);
    for (int i = 0; i < n->scan.nyield; i++) {
        const IrType *t = &n->body->nodes[n->body->outputs[i]].type;
        check_dims(G, k, t, first_site, &over);
        first_site += 2 * t->rank;
    }
}

/* ---- the workspace: slots shared by buffers whose lifetimes don't overlap ---- */

static int plan_id(const void *G, const IrGraph *g, int i) { return gid(G, g, i); }
static bool plan_owns(const void *G, const IrGraph *g, int i) { return owns_buffer(G, g, &g->nodes[i], i); }
static bool plan_member(const void *G, const IrGraph *g, int i) { return fused_away(G, g, i); }

/* Same dtype size and dims: the same bytes in every call. */
static bool same_size(const IrType *a, const IrType *b) {
    if (attn_dtype_size(a->dtype) != attn_dtype_size(b->dtype) || a->rank != b->rank)
        return false;
    for (int d = 0; d < a->rank; d++)
        if (!dim_equal(a->dims[d], b->dims[d]))
            return false;
    return true;
}

/* Node i of g through reshapes: the node whose buffer it is. */
static int root_of(const IrGraph *g, int i) {
    while (g->nodes[i].op == OP_RESHAPE)
        i = g->nodes[i].in[0];
    return i;
}

/* Whether the kernel computing body output o may write it straight into the
 * buffer of carried input `in` (node indices of scan body g): every other
 * reader of the old state runs in an earlier kernel, and o's own kernel (o's,
 * or the gate kernel o is a stored member of, like an LSTM's cell state), if
 * it reads the old state at all, reads it in elementwise members only, each
 * element where it writes the new one. No output of the body may be the old
 * state itself. */
static bool carry_in_place(const Gen *G, const IrGraph *g, int o, int in) {
    const FusePlan *p = fuse_plan_find(G->plan, g);
    const IrNode *on = &g->nodes[o];
    int kr = p ? p->owner[o] : -1;
    if (kr < 0 || on->op == OP_INPUT || (kr != o && !(p->stored[o] && p->kind[kr] == FK_GATED)) ||
        !owns_buffer(G, g, on, o) || !same_size(&on->type, &g->nodes[in].type))
        return false;
    for (int k = 0; k < g->nout; k++)
        if (root_of(g, g->outputs[k]) == in)
            return false;
    for (int u = in + 1; u < g->n; u++)
        for (int j = 0; j < g->nodes[u].nin; j++) {
            if (g->nodes[u].in[j] != in)
                continue;
            int r = p->owner[u];
            const IrNode *un = &g->nodes[u];
            OpClass cls = op_info[un->op].cls;
            bool elementwise = (cls == OC_UNARY || cls == OC_BINARY || cls == OC_COMPARE || cls == OC_LOGIC ||
                                cls == OC_TERNARY) && un->type.rank == on->type.rank;
            if (r < 0 || r > kr ||
                (r == kr && !((p->kind[kr] == FK_ELEMENTWISE || p->kind[kr] == FK_GATED) && elementwise)))
                return false;
        }
    return true;
}

/* New carried states computed straight into their carried buffers: their
 * buffers become those (GenValue.slot), and the copy at the end of each step
 * goes (GenValue.in_place). Both live for the whole outermost scan, so no
 * other buffer shares the slot while either is live. */
static void plan_carries(Gen *G) {
    for (int k = 0; k < G->ngraphs; k++) {
        const IrGraph *g = G->graphs[k].g;
        for (int i = 0; i < g->n; i++) {
            const IrNode *scan = &g->nodes[i];
            if (scan->op != OP_SCAN)
                continue;
            const IrGraph *body = scan->body;
            for (int c = 0; c < scan->scan.ncarry; c++) {
                int o = body->outputs[scan->scan.nyield + c], in = ir_body_input(body, scan->scan.nseq + c);
                GenValue *out = value_of(G, body, o);
                if (in < 0 || out->in_place || value_of(G, body, in)->slot < 0 || !carry_in_place(G, body, o, in))
                    continue;
                out->slot = value_of(G, body, in)->slot;
                out->in_place = true;
            }
        }
    }
}

/* Buffers of the entry's outputs that kernels write straight into the
 * caller's output buffers (GenValue.out_of) instead of the workspace, saving the
 * copy at the end: every top-level buffer an output is held in (through
 * reshapes), the first output of it only. A scan's per-step output is held
 * in its first RESULT's buffer, so other RESULTs of it are copied. */
static void plan_outputs(Gen *G) {
    const IrGraph *g = G->e->graph;
    for (int id = 0; id < G->total; id++)
        G->value[id].out_of = -1;
    for (int i = 0; i < g->nout; i++) {
        int root = root_of(g, g->outputs[i]);
        const IrNode *n = &g->nodes[root];
        bool first_result = true;
        for (int j = 0; j < root && n->op == OP_RESULT; j++)
            first_result &= !(g->nodes[j].op == OP_RESULT && g->nodes[j].in[0] == n->in[0] &&
                              g->nodes[j].attrs.axis == n->attrs.axis);
        int id = gid(G, g, root);
        if (G->value[id].out_of < 0 && first_result && owns_buffer(G, g, n, root))
            G->value[id].out_of = i;
    }
}

/* Puts every buffer into a slot (GenValue.slot); the key of a size class is
 * the id of its first buffer. Returns 0, or -1 when out of memory. */
static int plan_slots(Gen *G) {
    CgPlanBuf *bufs = calloc((size_t)G->total + 1, sizeof *bufs);
    const IrType **type = calloc((size_t)G->total + 1, sizeof *type);
    int *slot = calloc((size_t)G->total + 1, sizeof *slot);
    CgPlanNodes nodes = {.ctx = G, .count = G->total, .id = plan_id, .owns = plan_owns, .member = plan_member};
    int rc = -1;
    if (bufs && type && slot && cg_plan_live(G->e->graph, &nodes, bufs) == 0) {
        plan_outputs(G);
        for (int id = 0; id < G->total; id++)
            if (G->value[id].out_of >= 0)
                bufs[id].start = bufs[id].end = -1; /* not in the workspace */
        for (int k = 0; k < G->ngraphs; k++)
            for (int i = 0; i < G->graphs[k].g->n; i++)
                type[G->graphs[k].base + i] = &G->graphs[k].g->nodes[i].type;
        for (int id = 0; id < G->total; id++) {
            bufs[id].key = id;
            for (int j = 0; j < id && bufs[id].start >= 0 && bufs[id].key == id; j++)
                if (bufs[j].start >= 0 && bufs[j].key == j && same_size(type[j], type[id]))
                    bufs[id].key = j;
        }
        G->nslots = cg_plan_slots(bufs, G->total, slot);
        for (int id = 0; id < G->total; id++)
            G->value[id].slot = slot[id];
        rc = G->nslots < 0 ? -1 : 0;
        if (rc == 0)
            plan_carries(G);
    }
    free(bufs);
    free(type);
    free(slot);
    return rc;
}

/* Grows each slot of g's buffers (and its bodies') to its largest occupant
 * under the per-call dims, 64-byte aligned; adds every buffer to *separate
 * (the workspace without reuse) when non-NULL. With `check`, first makes sure
 * each per-call shape is valid, else returns -(site+1) from k's function. */
static void size_slots(Gen *G, CgKernel *k, const IrGraph *g, bool check, LLVMValueRef *separate) {
    CgModule *cm = G->cm;
    LLVMBuilderRef b = k->b;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        int id = gid(G, g, i);
        if (check && G->value[id].shape_site >= 0 && n->op == OP_SCAN)
            check_scan(G, k, n, G->value[id].shape_site);
        else if (check && G->value[id].shape_site >= 0)
            check_shape(G, k, n, G->value[id].shape_site);
        if (n->op == OP_SCAN) {
            size_slots(G, k, n->body, check, separate);
            continue;
        }
        if (G->value[id].slot < 0)
            continue;
        LLVMValueRef bytes = bytes_of(G, k, &n->type);
        LLVMValueRef rounded = LLVMBuildAnd(b, LLVMBuildAdd(b, bytes, cg_i64(cm, ALIGN - 1), ""), cg_i64(cm, -ALIGN), "");
        LLVMValueRef *size = &G->slot_at[G->value[id].slot];
        *size = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntUGT, rounded, *size, ""), rounded, *size, "");
        if (separate)
            *separate = LLVMBuildAdd(b, *separate, rounded, "");
    }
}

/* Sizes the slots and lays them out one after another; returns the bytes of
 * workspace. Points every buffer (GenValue.ptr) into its slot when `ws`. */
static LLVMValueRef plan_workspace(Gen *G, CgKernel *k, bool check, LLVMValueRef ws, LLVMValueRef *separate) {
    CgModule *cm = G->cm;
    for (int s = 0; s < G->nslots; s++)
        G->slot_at[s] = cg_i64(cm, 0);
    size_slots(G, k, G->e->graph, check, separate);
    LLVMValueRef total = cg_i64(cm, 0);
    for (int s = 0; s < G->nslots; s++) {
        LLVMValueRef size = G->slot_at[s];
        G->slot_at[s] = total;
        total = LLVMBuildAdd(k->b, total, size, "");
    }
    for (int id = 0; ws && id < G->total; id++)
        if (G->value[id].slot >= 0)
            G->value[id].ptr = LLVMBuildGEP2(k->b, cm->i8, ws, &G->slot_at[G->value[id].slot], 1, "");
    return total;
}

static void gen_workspace(Gen *G) {
    CgModule *cm = G->cm;
    char name[256];
    snprintf(name, sizeof name, "%s_workspace", G->prefix);
    LLVMTypeRef args[] = {cm->ptr, cm->ptr};
    LLVMValueRef fn = LLVMAddFunction(cm->mod, name, LLVMFunctionType(cm->i64, args, 2, 0));
    CgKernel k = fn_begin(G, fn, LLVMGetParam(fn, 1), LLVMGetParam(fn, 0)); /* ctx: where the failing count goes */
    LLVMBuildRet(k.b, plan_workspace(G, &k, true, NULL, NULL));
    LLVMDisposeBuilder(k.b);
}

/* ---- statistics of a call ---- */

/* A node with a buffer of its own that is not set by the driver runs a kernel. */
static bool runs_kernel(const Gen *G, const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    return n->op != OP_INPUT && n->op != OP_RESULT && owns_buffer(G, g, n, i) && !fused_away(G, g, i);
}

/* Bytes a kernel reads for value i of g: its size, or, for a value computed
 * inside its reader's kernel (no buffer, not an alias), what it reads. */
static LLVMValueRef read_bytes(Gen *G, CgKernel *k, const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    int64_t offset;
    if (n->op == OP_INPUT || n->op == OP_PARAM || n->op == OP_CONST || n->op == OP_RESHAPE || n->op == OP_RESULT ||
        fuse_slice_view(g, n, &offset) || owns_buffer(G, g, n, i))
        return bytes_of(G, k, &n->type);
    LLVMValueRef sum = cg_i64(G->cm, 0);
    for (int j = 0; j < n->nin; j++)
        sum = LLVMBuildAdd(k->b, sum, read_bytes(G, k, g, n->in[j]), "");
    return sum;
}

/* Counts the kernels of g and its bodies, and adds to *calls and *moved what
 * they do when g runs `times` times. */
static void count_calls(Gen *G, CgKernel *k, const IrGraph *g, LLVMValueRef times, int *kernels, LLVMValueRef *calls,
                        LLVMValueRef *moved) {
    LLVMBuilderRef b = k->b;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (n->op == OP_SCAN)
            count_calls(G, k, n->body, LLVMBuildMul(b, times, cg_dim(G->cm, b, k->syms, n->scan.steps), ""), kernels,
                        calls, moved);
        if (!runs_kernel(G, g, i))
            continue;
        LLVMValueRef bytes = bytes_of(G, k, &n->type);
        for (int j = 0; j < n->nin; j++)
            bytes = LLVMBuildAdd(b, bytes, read_bytes(G, k, g, n->in[j]), "");
        ++*kernels;
        *calls = LLVMBuildAdd(b, *calls, times, "");
        *moved = LLVMBuildAdd(b, *moved, LLVMBuildMul(b, times, bytes, ""), "");
    }
}

/* void PREFIX_stats(syms, out): out[ATTN_STAT_*] of a call with dims that
 * PREFIX_workspace accepted. */
static void gen_stats(Gen *G) {
    CgModule *cm = G->cm;
    char name[256];
    snprintf(name, sizeof name, "%s_stats", G->prefix);
    LLVMTypeRef args[] = {cm->ptr, cm->ptr};
    LLVMValueRef fn = LLVMAddFunction(cm->mod, name, LLVMFunctionType(LLVMVoidTypeInContext(cm->ctx), args, 2, 0));
    CgKernel k = fn_begin(G, fn, NULL, LLVMGetParam(fn, 0));
    LLVMValueRef v[ATTN_NSTATS];
    v[ATTN_STAT_WORKSPACE_SEPARATE] = cg_i64(cm, 0);
    v[ATTN_STAT_WORKSPACE] = plan_workspace(G, &k, false, NULL, &v[ATTN_STAT_WORKSPACE_SEPARATE]);
    int kernels = 0;
    v[ATTN_STAT_CALLS] = v[ATTN_STAT_BYTES_MOVED] = cg_i64(cm, 0);
    count_calls(G, &k, G->e->graph, cg_i64(cm, 1), &kernels, &v[ATTN_STAT_CALLS], &v[ATTN_STAT_BYTES_MOVED]);
    v[ATTN_STAT_KERNELS] = cg_i64(cm, kernels);
    for (int i = 0; i < ATTN_NSTATS; i++) {
        LLVMValueRef idx = cg_i64(cm, i);
        LLVMBuildStore(k.b, v[i], LLVMBuildGEP2(k.b, cm->i64, LLVMGetParam(fn, 1), &idx, 1, ""));
    }
    LLVMBuildRetVoid(k.b);
    LLVMDisposeBuilder(k.b);
}

/* i32 PREFIX_{input,output}_dims(syms, dims): dims of the entry's inputs or outputs. */
static void gen_dims(Gen *G, bool inputs) {
    CgModule *cm = G->cm;
    const IrGraph *g = G->e->graph;
    char name[256];
    snprintf(name, sizeof name, "%s_%s_dims", G->prefix, inputs ? "input" : "output");
    LLVMTypeRef args[] = {cm->ptr, cm->ptr, cm->ptr};
    LLVMValueRef fn = LLVMAddFunction(cm->mod, name, LLVMFunctionType(cm->i32, args, 3, 0));
    CgKernel k = fn_begin(G, fn, NULL, LLVMGetParam(fn, 1));
    int count = inputs ? g->ninputs : g->nout;
    for (int t = 0; t < count; t++) {
        const IrNode *n = NULL;
        if (inputs) {
            for (int i = 0; i < g->n && !n; i++)
                if (g->nodes[i].op == OP_INPUT && g->nodes[i].index == t)
                    n = &g->nodes[i];
        } else
            n = &g->nodes[g->outputs[t]];
        for (int d = 0; d < n->type.rank; d++) {
            /* -1, which no input has, for a dim with no valid value in this call */
            LLVMValueRef bad = LLVMConstInt(LLVMInt1TypeInContext(cm->ctx), 0, 0);
            LLVMValueRef dim = cg_dim_checked(cm, k.b, k.syms, n->type.dims[d], &bad);
            LLVMValueRef idx = cg_i64(cm, t * ATTN_MAX_RANK + d);
            LLVMBuildStore(k.b, LLVMBuildSelect(k.b, bad, cg_i64(cm, -1), dim, ""),
                           LLVMBuildGEP2(k.b, cm->i64, LLVMGetParam(fn, 2), &idx, 1, ""));
        }
    }
    LLVMBuildRet(k.b, LLVMConstInt(cm->i32, 0, 0));
    LLVMDisposeBuilder(k.b);
}

/* ---- the driver ---- */

static LLVMValueRef load_slot(Gen *G, CgKernel *k, LLVMValueRef array, int i) {
    LLVMValueRef idx = cg_i64(G->cm, i);
    return LLVMBuildLoad2(k->b, G->cm->ptr, LLVMBuildGEP2(k->b, G->cm->ptr, array, &idx, 1, ""), "");
}

static LLVMValueRef const_global(Gen *G, const IrNode *n, int id) {
    const attn_tensor *t = n->value;
    size_t bytes = t && t->data ? (size_t)attn_tensor_numel(t) * attn_dtype_size(t->dtype) : 0;
    LLVMValueRef init = LLVMConstStringInContext(G->cm->ctx, bytes ? t->data : "", (unsigned)(bytes ? bytes : 1), 1);
    char name[64];
    snprintf(name, sizeof name, "%s_const%d", G->prefix, id);
    LLVMValueRef gv = LLVMAddGlobal(G->cm->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMInternalLinkage);
    LLVMSetAlignment(gv, ALIGN);
    return gv;
}

/* Calls kernel of node i; returns its status to the caller when non-zero. */
/* Numbers the kernel of root i and names it in G->info ("k12 matmul+epilogue:
 * %11 matmul, %12 add"). */
static int add_kernel_name(Gen *G, const IrGraph *g, const FusePlan *plan, int i) {
    int id = gid(G, g, i);
    char text[1024];
    size_t used = (size_t)snprintf(text, sizeof text, "k%d %s", id, op_name(g->nodes[i].op));
    if (plan && plan->kind[i] != FK_SINGLE) {
        int members[CG_FUSED_MAX];
        int n = fuse_members(plan, i, members, CG_FUSED_MAX);
        used = (size_t)snprintf(text, sizeof text, "k%d %s:", id, fuse_kind_name(plan->kind[i]));
        for (int m = 0; m < n && used < sizeof text; m++)
            used += (size_t)snprintf(text + used, sizeof text - used, "%s %%%d %s", m ? "," : "", members[m],
                                     op_name(g->nodes[members[m]].op));
    }
    char **names = realloc(G->info->kernel_names, sizeof(char *) * (size_t)(G->info->nkernels + 1));
    if (!names)
        return -1;
    G->info->kernel_names = names;
    if (!(names[G->info->nkernels] = cg_msg("%s", text)))
        return -1;
    G->value[id].kindex = G->info->nkernels++;
    return 0;
}

static void call_kernel(Gen *G, CgKernel *k, const IrGraph *g, int i) {
    CgModule *cm = G->cm;
    const IrNode *n = &g->nodes[i];
    int id = gid(G, g, i);
    GenValue *v = &G->value[id];
    const FusePlan *plan = fuse_plan_find(G->plan, g);
    CgFused *f = NULL;
    if (plan && plan->kind[i] != FK_SINGLE) {
        int *sites = malloc(sizeof(int) * (size_t)g->n);
        f = malloc(sizeof *f);
        bool ok = sites && f;
        for (int j = 0; ok && j < g->n; j++)
            sites[j] = value_of(G, g, j)->site;
        bool collected = ok && cg_fused_collect(f, plan, i, sites);
        free(sites);
        if (!collected) {
            free(f);
            if (!ok)
                out_of_memory(G);
            else if (!G->err)
                G->err = cg_msg("error: kernel of node %%%d (%s) has too many operands", i, op_name(n->op));
            return;
        }
    }
    if (v->stacked_at && !(f && f->kind == FK_GATED && f->nleaf < CG_MAX_IN))
        v->stacked_at = NULL; /* emit_scan copies it instead */
    if (v->stacked_at) {
        f->stacked = f->nleaf;
        f->leaf[f->nleaf++] = CG_LEAF_STACKED;
        f->stacked_steps = v->stacked_steps;
    }
    int nargs = f ? f->nleaf : n->nin;
    if (!v->kernel && add_kernel_name(G, g, plan, i) != 0) {
        free(f);
        out_of_memory(G);
        return;
    }
    if (!v->kernel) {
        char name[256];
        snprintf(name, sizeof name, "%s_k%d_%s%s", G->prefix, id, op_name(n->op), f ? "_fused" : "");
        LLVMBasicBlockRef here = LLVMGetInsertBlock(k->b);
        if (f) {
            int param = f->matmul >= 0 ? value_of(G, g, f->matmul)->param : -1;
            if (f->kind == FK_GATED && param < 0) { /* fuse_gates.c only takes products of packed weights */
                free(f);
                G->err = cg_msg(ATTN_MSG_INTERNAL "gate kernel of node %%%d has no packed weight", i);
                return;
            }
            v->kernel = cg_build_fused_kernel(cm, f, name, v->site, param);
        } else
            v->kernel = cg_build_kernel(cm, g, n, name, v->site,
                                        n->op == OP_MATMUL   ? v->param
                                        : n->op == OP_GATHER ? bf16_table_slot(G, g, n)
                                                             : -1);
        LLVMPositionBuilderAtEnd(k->b, here);
    }
    LLVMValueRef args[CG_MAX_IN + 2];
    LLVMTypeRef types[CG_MAX_IN + 2];
    args[0] = k->ctx;
    args[1] = v->ptr;
    for (int j = 0; j < nargs; j++) {
        int src = f ? f->leaf[j] : n->in[j];
        args[2 + j] = src == CG_LEAF_STACKED ? v->stacked_at : src < 0 ? v->ptr : value_of(G, g, src)->ptr;
    }
    free(f);
    for (int j = 0; j < nargs + 2; j++)
        types[j] = cm->ptr;
    LLVMTypeRef clock_fn = LLVMFunctionType(cm->i64, NULL, 0, 0);
    LLVMValueRef t0 = cm->profile ? LLVMBuildCall2(k->b, clock_fn, cg_function(cm, "attn_rt_clock_ns", clock_fn), NULL, 0, "") : NULL;
    LLVMValueRef st = LLVMBuildCall2(k->b, LLVMFunctionType(cm->i32, types, (unsigned)nargs + 2, 0), v->kernel, args,
                                     (unsigned)nargs + 2, "");
    if (cm->profile) { /* time of this call into the kernel's counters */
        LLVMValueRef t1 = LLVMBuildCall2(k->b, clock_fn, cg_function(cm, "attn_rt_clock_ns", clock_fn), NULL, 0, "");
        LLVMTypeRef add_args[] = {cm->ptr, cm->i64, cm->i64};
        LLVMTypeRef add_t = LLVMFunctionType(cm->void_t, add_args, 3, 0);
        LLVMValueRef call[] = {cg_ctx_ptr(cm, k->b, k->ctx, CTX_PROFILE), cg_i64(cm, v->kindex),
                               LLVMBuildSub(k->b, t1, t0, "")};
        LLVMBuildCall2(k->b, add_t, cg_function(cm, "attn_rt_profile_add", add_t), call, 3, "");
    }
    LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "kernel_failed");
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "next");
    LLVMBuildCondBr(k->b, LLVMBuildICmp(k->b, LLVMIntNE, st, LLVMConstInt(cm->i32, 0, 0), ""), fail, ok);
    LLVMPositionBuilderAtEnd(k->b, fail);
    LLVMBuildRet(k->b, st);
    LLVMPositionBuilderAtEnd(k->b, ok);
}

/* Copies `chunk` bytes `outer` times between strided places:
   dst + o*dst_step + dst_off  <-  src + o*src_step + src_off. */
static void copy_rows(Gen *G, CgKernel *k, LLVMValueRef dst, LLVMValueRef dst_step, LLVMValueRef dst_off, LLVMValueRef src,
                      LLVMValueRef src_step, LLVMValueRef src_off, LLVMValueRef outer, LLVMValueRef chunk) {
    CgModule *cm = G->cm;
    LLVMBuilderRef b = k->b;
    CgLoop l;
    LLVMValueRef o = cg_loop_begin(k, &l, cg_i64(cm, 0), outer, 1);
    LLVMValueRef d = LLVMBuildAdd(b, LLVMBuildMul(b, o, dst_step, ""), dst_off, "");
    LLVMValueRef s = LLVMBuildAdd(b, LLVMBuildMul(b, o, src_step, ""), src_off, "");
    LLVMBuildMemCpy(b, LLVMBuildGEP2(b, cm->i8, dst, &d, 1, ""), 1, LLVMBuildGEP2(b, cm->i8, src, &s, 1, ""), 1, chunk);
    cg_loop_end(k, &l);
}

/* Product of dims [from, to) of t. */
static LLVMValueRef dims_product(Gen *G, CgKernel *k, const IrType *t, int from, int to) {
    CgShape s = cg_shape(G->cm, k->b, k->syms, t);
    return cg_shape_numel(G->cm, k->b, &s, from, to);
}

static void emit_graph(Gen *G, CgKernel *k, const IrGraph *g);

/* Whether carry j of scan sc takes turns with its old state instead of being
 * copied into it at the end of each step: the new state has a buffer of its
 * own (not a view, not computed in place, the new state of no other carry)
 * the size of the carried one. The two buffers then swap roles every step.
 * Both are free to: every buffer of a scan body lives for the whole of its
 * outermost scan (cg_plan.c). */
static bool carry_swaps(const Gen *G, const IrGraph *body, const IrScan *sc, const int *body_in, int j) {
    int o = body->outputs[sc->nyield + j], in = body_in[sc->nseq + j];
    const GenValue *out = value_of(G, body, o);
    if (body->nodes[o].op == OP_INPUT || body->nodes[o].op == OP_RESHAPE || out->slot < 0 || out->in_place ||
        value_of(G, body, in)->slot < 0 || !same_size(&body->nodes[o].type, &body->nodes[in].type))
        return false;
    for (int c = 0; c < sc->ncarry; c++)
        if (c != j && body->outputs[sc->nyield + c] == o)
            return false;
    return true;
}

/* Whether per-step output i of scan sc is written to its stacked result by
 * the gate kernel computing it (CgFused.stacked) rather than copied there
 * after the step: the first output of the kernel's root [rows, H], stacked
 * along axis 0 or 1. */
static bool yield_by_kernel(const Gen *G, const IrGraph *body, const IrScan *sc, int i) {
    int o = body->outputs[i];
    const FusePlan *p = fuse_plan_find(G->plan, body);
    if (!p || p->owner[o] != o || p->kind[o] != FK_GATED || body->nodes[o].type.rank != 2 || sc->axis > 1)
        return false;
    for (int j = 0; j < i; j++)
        if (body->outputs[j] == o)
            return false;
    return true;
}

/* What emit_scan keeps per body input, per-step output and carry, sized by
 * the scan's counts. */
typedef struct ScanArrays {
    int *body_in;               /* per body input: its node in the body */
    LLVMValueRef *stacked;      /* per-step outputs: the buffer of the RESULT nodes taking them */
    LLVMValueRef *chunk;        /* per-step outputs: bytes of one step */
    LLVMValueRef (*state)[2];   /* carries that swap: where the old and the new state's buffers are */
    LLVMValueRef *tmp;          /* carries that are other carries' old values: their stack copy */
} ScanArrays;

static void scan_arrays_free(ScanArrays *a) {
    free(a->body_in);
    free(a->stacked);
    free(a->chunk);
    free(a->state);
    free(a->tmp);
}

static bool scan_arrays_alloc(ScanArrays *a, const IrScan *sc) {
    size_t nin = (size_t)(sc->nseq + sc->ncarry + sc->ncapture) + 1, nyield = (size_t)sc->nyield + 1,
           ncarry = (size_t)sc->ncarry + 1;
    *a = (ScanArrays){calloc(nin, sizeof *a->body_in), calloc(nyield, sizeof *a->stacked),
                      calloc(nyield, sizeof *a->chunk), calloc(ncarry, sizeof *a->state), calloc(ncarry, sizeof *a->tmp)};
    if (a->body_in && a->stacked && a->chunk && a->state && a->tmp)
        return true;
    scan_arrays_free(a);
    return false;
}

static void emit_scan_with(Gen *G, CgKernel *k, const IrGraph *g, int si, ScanArrays *A);

/* A scan: native loop over its body's kernels. */
static void emit_scan(Gen *G, CgKernel *k, const IrGraph *g, int si) {
    ScanArrays A;
    if (!scan_arrays_alloc(&A, &g->nodes[si].scan)) {
        if (!G->err)
            G->err = cg_msg("error: out of memory");
        return;
    }
    emit_scan_with(G, k, g, si, &A);
    scan_arrays_free(&A);
}

static void emit_scan_with(Gen *G, CgKernel *k, const IrGraph *g, int si, ScanArrays *A) {
    CgModule *cm = G->cm;
    LLVMBuilderRef b = k->b;
    const IrNode *scan = &g->nodes[si];
    const IrScan *sc = &scan->scan;
    const IrGraph *body = scan->body;
    LLVMValueRef steps = cg_dim(cm, b, k->syms, sc->steps);
    int nin = sc->nseq + sc->ncarry + sc->ncapture;
    int *body_in = A->body_in;
    for (int i = 0; i < body->n; i++)
        if (body->nodes[i].op == OP_INPUT && body->nodes[i].index < nin)
            body_in[body->nodes[i].index] = i;
    /* carries start as copies of their initial values; captures alias */
    for (int j = sc->nseq; j < nin; j++) {
        int inner = gid(G, body, body_in[j]), outer = gid(G, g, scan->in[j]);
        if (j < sc->nseq + sc->ncarry)
            LLVMBuildMemCpy(b, G->value[inner].ptr, ALIGN, G->value[outer].ptr, 1,
                            bytes_of(G, k, &g->nodes[scan->in[j]].type));
        else
            G->value[inner].ptr = G->value[outer].ptr;
    }
    /* stacked outputs: the buffer of the RESULT nodes taking them */
    LLVMValueRef *stacked = A->stacked;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_RESULT && g->nodes[i].in[0] == si) {
            int o = (int)g->nodes[i].attrs.axis;
            if (o < sc->nyield) {
                if (!stacked[o])
                    stacked[o] = value_of(G, g, i)->ptr;
                else
                    value_of(G, g, i)->ptr = stacked[o];
            }
        }
    /* swapping carries: the buffers of the old and the new state, read at the
       top of every step */
    LLVMValueRef (*state)[2] = A->state;
    for (int j = 0; j < sc->ncarry; j++)
        if (carry_swaps(G, body, sc, body_in, j)) {
            int in = gid(G, body, body_in[sc->nseq + j]), out = gid(G, body, body->outputs[sc->nyield + j]);
            state[j][0] = cg_entry_alloca(k, cm->ptr);
            state[j][1] = cg_entry_alloca(k, cm->ptr);
            LLVMBuildStore(b, G->value[in].ptr, state[j][0]);
            LLVMBuildStore(b, G->value[out].ptr, state[j][1]);
        }
    CgLoop loop;
    LLVMValueRef step = cg_loop_begin(k, &loop, cg_i64(cm, 0), steps, 1);
    for (int j = 0; j < sc->ncarry; j++)
        if (state[j][0]) {
            value_of(G, body, body_in[sc->nseq + j])->ptr = LLVMBuildLoad2(b, cm->ptr, state[j][0], "old_state");
            value_of(G, body, body->outputs[sc->nyield + j])->ptr =
                LLVMBuildLoad2(b, cm->ptr, state[j][1], "new_state");
        }
    LLVMValueRef t = sc->reverse ? LLVMBuildSub(b, LLVMBuildSub(b, steps, cg_i64(cm, 1), ""), step, "") : step;
    /* this step of each sequence */
    for (int i = 0; i < sc->nseq; i++) {
        const IrType *st = &g->nodes[scan->in[i]].type;
        int inner = gid(G, body, body_in[i]);
        LLVMValueRef src = value_of(G, g, scan->in[i])->ptr;
        LLVMValueRef chunk = LLVMBuildMul(b, dims_product(G, k, st, sc->axis + 1, st->rank),
                                          cg_i64(cm, (int64_t)attn_dtype_size(st->dtype)), "");
        if (sc->axis == 0 || cg_fused_step_in_place(fuse_plan_find(G->plan, body), body, body_in[i])) {
            /* its readers stride over the other steps (cg_fused.c) */
            LLVMValueRef off = LLVMBuildMul(b, t, chunk, "");
            G->value[inner].ptr = LLVMBuildGEP2(b, cm->i8, src, &off, 1, "");
        } else {
            LLVMValueRef len = cg_dim(cm, b, k->syms, st->dims[sc->axis]);
            copy_rows(G, k, G->value[inner].ptr, chunk, cg_i64(cm, 0), src, LLVMBuildMul(b, len, chunk, ""),
                      LLVMBuildMul(b, t, chunk, ""), dims_product(G, k, st, 0, sc->axis), chunk);
        }
    }
    /* this step's place in the stacked results: written there by the kernels
       that can, copied there after the step otherwise */
    LLVMValueRef *chunk = A->chunk;
    for (int i = 0; i < sc->nyield; i++) {
        if (!stacked[i])
            continue;
        const IrType *yt = &body->nodes[body->outputs[i]].type;
        chunk[i] = LLVMBuildMul(b, dims_product(G, k, yt, sc->axis, yt->rank),
                                cg_i64(cm, (int64_t)attn_dtype_size(yt->dtype)), "");
        if (yield_by_kernel(G, body, sc, i)) {
            GenValue *out = value_of(G, body, body->outputs[i]);
            LLVMValueRef off = LLVMBuildMul(b, t, chunk[i], "");
            out->stacked_at = LLVMBuildGEP2(b, cm->i8, stacked[i], &off, 1, "");
            out->stacked_steps = sc->axis == 1 ? sc->steps : NULL;
        }
    }
    emit_graph(G, k, body);
    for (int i = 0; i < sc->nyield; i++) {
        if (!stacked[i])
            continue;
        const IrType *yt = &body->nodes[body->outputs[i]].type;
        GenValue *out = value_of(G, body, body->outputs[i]);
        if (out->stacked_at && yield_by_kernel(G, body, sc, i)) {
            out->stacked_at = NULL;
            continue;
        }
        copy_rows(G, k, stacked[i], LLVMBuildMul(b, steps, chunk[i], ""), LLVMBuildMul(b, t, chunk[i], ""),
                  out->ptr, chunk[i], cg_i64(cm, 0), dims_product(G, k, yt, 0, sc->axis), chunk[i]);
    }
    /* new carries: values that are themselves carried inputs go through a
       stack copy first, so that a swap of two carries reads the old values */
    LLVMValueRef *tmp = A->tmp, saved = NULL;
    for (int pass = 0; pass < 3; pass++)
        for (int j = 0; j < sc->ncarry; j++) {
            int out_node = body->outputs[sc->nyield + j];
            const IrNode *root = &body->nodes[out_node];
            while (root->op == OP_RESHAPE)
                root = &body->nodes[root->in[0]];
            bool aliased = root->op == OP_INPUT && root->index >= sc->nseq && root->index < sc->nseq + sc->ncarry &&
                           root->index != sc->nseq + j;
            bool self = root->op == OP_INPUT && root->index == sc->nseq + j;
            if (self)
                continue;
            LLVMValueRef dst = value_of(G, body, body_in[sc->nseq + j])->ptr;
            LLVMValueRef src = value_of(G, body, out_node)->ptr;
            LLVMValueRef bytes = bytes_of(G, k, &body->nodes[out_node].type);
            if (state[j][0]) {
                if (pass == 1) { /* the new state is the next step's old one */
                    LLVMBuildStore(b, src, state[j][0]);
                    LLVMBuildStore(b, dst, state[j][1]);
                }
            } else if (pass == 0 && aliased) {
                if (!saved) /* the stack is given back after the copies, every step */
                    saved = cg_intrinsic(cm, b, "llvm.stacksave", cm->ptr, NULL, 0);
                tmp[j] = LLVMBuildArrayAlloca(b, cm->i8, bytes, "");
                LLVMBuildMemCpy(b, tmp[j], 1, src, 1, bytes);
            } else if (pass == 1 && !aliased && !value_of(G, body, out_node)->in_place)
                LLVMBuildMemCpy(b, dst, 1, src, 1, bytes);
            else if (pass == 2 && aliased)
                LLVMBuildMemCpy(b, dst, 1, tmp[j], 1, bytes);
        }
    if (saved)
        cg_intrinsic(cm, b, "llvm.stackrestore", cm->ptr, &saved, 1);
    cg_loop_end(k, &loop);
    for (int j = 0; j < sc->ncarry; j++)
        if (state[j][0])
            value_of(G, body, body_in[sc->nseq + j])->ptr = LLVMBuildLoad2(b, cm->ptr, state[j][0], "final_state");
    /* final carries are read from the body's carried buffers */
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_RESULT && g->nodes[i].in[0] == si && g->nodes[i].attrs.axis >= sc->nyield)
            value_of(G, g, i)->ptr =
                value_of(G, body, body_in[sc->nseq + (int)g->nodes[i].attrs.axis - sc->nyield])->ptr;
}

static void emit_graph(Gen *G, CgKernel *k, const IrGraph *g) {
    CgModule *cm = G->cm;
    LLVMBuilderRef b = k->b;
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        int id = gid(G, g, i);
        GenValue *v = &G->value[id];
        switch (n->op) {
        case OP_INPUT:
            if (!g->parent)
                v->ptr = load_slot(G, k, cg_ctx_ptr(cm, b, k->ctx, CTX_INPUTS), n->index);
            continue; /* body inputs are set by their scan */
        case OP_PARAM:
            v->ptr = load_slot(G, k, cg_ctx_ptr(cm, b, k->ctx, CTX_PARAMS), v->param);
            continue;
        case OP_CONST:
            v->ptr = const_global(G, n, id);
            continue;
        case OP_RESHAPE: {
            v->ptr = value_of(G, g, n->in[0])->ptr;
            if (type_symbolic(&n->type) || type_symbolic(&g->nodes[n->in[0]].type)) {
                LLVMValueRef a = dims_product(G, k, &g->nodes[n->in[0]].type, 0, g->nodes[n->in[0]].type.rank);
                LLVMValueRef o = dims_product(G, k, &n->type, 0, n->type.rank);
                k->site = v->site;
                cg_fail_if(k, LLVMBuildICmp(b, LLVMIntNE, a, o, ""), a, o, NULL);
            }
            continue;
        }
        case OP_SCAN:
            emit_scan(G, k, g, i);
            continue;
        case OP_SLICE: {
            int64_t offset;
            if (fuse_slice_view(g, n, &offset)) { /* a range of its operand's memory */
                LLVMValueRef bytes = cg_i64(cm, offset * (int64_t)attn_dtype_size(n->type.dtype));
                v->ptr = LLVMBuildGEP2(b, cm->i8, value_of(G, g, n->in[0])->ptr, &bytes, 1, "");
                continue;
            }
            break;
        }
        case OP_RESULT:
            continue; /* set by its scan */
        case OP_CONCAT:
            if (packed_at_bind(G, g, i)) { /* its products read their packed copy */
                v->ptr = LLVMConstNull(cm->ptr);
                continue;
            }
            break;
        case OP_ARANGE: case OP_FULL:
        OP_CASES_ELEMENTWISE
        OP_CASES_REDUCE_NORM
        case OP_MATMUL: case OP_PERMUTE: case OP_EXPAND: case OP_GATHER: case OP_CHECK_LENGTHS:
            break;
        case OP_COUNT: ATTN_UNREACHABLE("op out of range");
        }
        if (!fused_away(G, g, i) && !G->err)
            call_kernel(G, k, g, i);
    }
}

static void gen_run(Gen *G) {
    CgModule *cm = G->cm;
    char name[256];
    snprintf(name, sizeof name, "%s_run", G->prefix);
    LLVMTypeRef arg = cm->ptr;
    LLVMValueRef fn = LLVMAddFunction(cm->mod, name, LLVMFunctionType(cm->i32, &arg, 1, 0));
    LLVMValueRef ctx = LLVMGetParam(fn, 0);
    CgKernel k = fn_begin(G, fn, ctx, NULL);
    k.syms = cg_ctx_ptr(cm, k.b, ctx, CTX_SYMS);
    plan_workspace(G, &k, false, cg_ctx_ptr(cm, k.b, ctx, CTX_WORKSPACE), NULL);
    const IrGraph *g = G->e->graph;
    LLVMValueRef outs = cg_ctx_ptr(cm, k.b, ctx, CTX_OUTPUTS);
    for (int i = 0; i < g->nout; i++) {
        int id = gid(G, g, root_of(g, g->outputs[i]));
        if (G->value[id].out_of == i)
            G->value[id].ptr = load_slot(G, &k, outs, i);
    }
    emit_graph(G, &k, g);
    for (int i = 0; i < g->nout && !G->err; i++) { /* after an error the values may be missing */
        const IrNode *n = &g->nodes[g->outputs[i]];
        if (value_of(G, g, root_of(g, g->outputs[i]))->out_of != i)
            LLVMBuildMemCpy(k.b, load_slot(G, &k, outs, i), 1, value_of(G, g, g->outputs[i])->ptr, 1,
                            bytes_of(G, &k, &n->type));
    }
    LLVMBuildRet(k.b, LLVMConstInt(cm->i32, 0, 0));
    LLVMDisposeBuilder(k.b);
}

int cg_entry_generate(CgModule *cm, const IrEntry *e, const char *prefix, CgEntryInfo *info, char **err) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(info, 0, sizeof *info);
    Gen G = {.cm = cm, .e = e, .prefix = prefix, .info = info};
    int ng = count_graphs(e->graph);
    G.graphs = calloc((size_t)ng, sizeof *G.graphs);
    if (!G.graphs) {
        *err = cg_msg("error: out of memory");
        return -1;
    }
    collect_graphs(&G, e->graph);
    Arena plan_arena = {0};
    size_t n = (size_t)G.total + 1;
    G.value = calloc(n, sizeof *G.value);
    G.slot_at = calloc(n, sizeof *G.slot_at);
    int rc = 0;
    /* the kernel graph first: which nodes have buffers depends on it */
    if (!G.value || !G.slot_at ||
        !(G.plan = fuse_plan_build(&plan_arena, e->graph, cm->no_fuse ? 0 : 1)) || plan_slots(&G) != 0) {
        *err = cg_msg("error: out of memory");
        rc = -1;
    } else {
        number_nodes(&G);
        if (!G.err) {
            mark_weight_slots(&G);
            gen_workspace(&G);
            gen_stats(&G);
            gen_dims(&G, true);
            gen_dims(&G, false);
            gen_run(&G);
        }
        if (G.err) {
            *err = G.err;
            rc = -1;
        }
    }
    arena_free(&plan_arena);
    free(G.graphs);
    free(G.value);
    free(G.slot_at);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    info->gen_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    return rc;
}

void cg_entry_info_free(CgEntryInfo *info) {
    for (int i = 0; i < info->nsites; i++)
        free(info->sites[i]);
    free(info->sites);
    free(info->params);
    for (int i = 0; i < info->nkernels; i++)
        free(info->kernel_names[i]);
    free(info->kernel_names);
    memset(info, 0, sizeof *info);
}
