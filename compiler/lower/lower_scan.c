/*
 * lower_scan.c — the scan construct:
 *
 *     ys, h_n = scan(x_t in xs, h = h_0, axis = 1, reverse = false) {
 *         h = cell(x_t, h)
 *         yield h
 *     }
 *
 * The body becomes a nested graph run once per step over the sequences' axis.
 * `x_t in xs` steps over a sequence; `h = h_0` declares a carried state whose
 * value at the end of the body is carried to the next step; `yield` gives the
 * per-step outputs, stacked along the axis (at the step's own index, also
 * when reversed). The result is the stacked outputs followed by the final
 * states. Outer values the body reads are captured as extra body inputs.
 */
#include "lower.h"
#include "attn_limits.h"

#include <string.h>

typedef struct ScanHead {
    const Ast *seq[ATTN_LIMIT_SCAN_SEQS]; Val seqv[ATTN_LIMIT_SCAN_SEQS]; int nseq;
    const Ast *carry[ATTN_LIMIT_SCAN_CARRIES]; Val carryv[ATTN_LIMIT_SCAN_CARRIES]; int ncarry;
    int64_t axis; bool reverse;
} ScanHead;

static bool scan_head(Lower *L, const Ast *e, ScanHead *h) {
    *h = (ScanHead){.axis = 1};
    for (int i = 0; i < e->list.n; i++) {
        const Ast *it = e->list.items[i];
        Val v = lower_expr(L, it->a);
        if (v.k == V_ERR)
            return false;
        if (it->kind == A_SCANSEQ) {
            if (v.k != V_TENSOR) {
                diag_error(L->diag, it->loc, "scan steps over a tensor, got %s", val_describe(L, v));
                return false;
            }
            if (h->nseq == ATTN_LIMIT_SCAN_SEQS) {
                diag_error(L->diag, it->loc, "scan over more than %d sequences (ATTN_LIMIT_SCAN_SEQS)",
                           ATTN_LIMIT_SCAN_SEQS);
                return false;
            }
            h->seq[h->nseq] = it;
            h->seqv[h->nseq++] = v;
        } else if (strcmp(it->str, "axis") == 0) {
            if (!val_to_int(L, v, it->a, &h->axis))
                return false;
        } else if (strcmp(it->str, "reverse") == 0) {
            if (!val_to_bool(L, v, it->a, &h->reverse))
                return false;
        } else {
            if (v.k != V_TENSOR) {
                diag_error(L->diag, it->loc, "a carried state must be a tensor, got %s", val_describe(L, v));
                return false;
            }
            if (h->ncarry == ATTN_LIMIT_SCAN_CARRIES) {
                diag_error(L->diag, it->loc, "scan carries more than %d states (ATTN_LIMIT_SCAN_CARRIES)",
                           ATTN_LIMIT_SCAN_CARRIES);
                return false;
            }
            h->carry[h->ncarry] = it;
            h->carryv[h->ncarry++] = v;
        }
    }
    if (h->nseq == 0) {
        diag_error(L->diag, e->loc, "scan needs a sequence to step over (x_t in xs)");
        return false;
    }
    return true;
}

static int body_input(Lower *L, IrGraph *body, const IrType *t, int index, SrcLoc loc) {
    int id = ir_add(L->ar, body, OP_INPUT, NULL, 0, loc);
    body->nodes[id].type = *t;
    body->nodes[id].index = index;
    body->ninputs++;
    return id;
}

Val lower_scan(Lower *L, const Ast *e) {
    ScanHead h;
    if (!scan_head(L, e, &h))
        return err_val();
    int outer_in[ATTN_LIMIT_SCAN_SEQS + ATTN_LIMIT_SCAN_CARRIES];
    const IrType *t0 = &h.seqv[0].g->nodes[h.seqv[0].node].type;
    int64_t axis = h.axis;
    if (axis < 0)
        axis += t0->rank;
    if (axis < 0 || axis >= t0->rank) {
        diag_error(L->diag, e->loc, "scan axis %lld is out of range for %s", (long long)h.axis, type_text(L, t0));
        return err_val();
    }
    const Dim *steps = t0->dims[axis];
    for (int i = 0; i < h.nseq; i++) {
        outer_in[i] = use(L, h.seqv[i]);
        const IrType *t = &L->g->nodes[outer_in[i]].type;
        if (t->rank <= axis || !dim_equal(t->dims[axis], steps)) {
            char n[64];
            dim_format(steps, n, sizeof n);
            diag_error(L->diag, h.seq[i]->loc, "sequence %s has %s, but the first sequence %s has %s steps along axis %lld",
                       h.seq[i]->str, type_text(L, t), h.seq[0]->str, n, (long long)axis);
            return err_val();
        }
    }
    for (int j = 0; j < h.ncarry; j++)
        outer_in[h.nseq + j] = use(L, h.carryv[j]);

    IrGraph *outer = L->g, *body = ir_graph_new(L->ar, outer);
    ScanCtx sc = {.g = body, .first_capture_index = h.nseq + h.ncarry, .parent = L->scan, .call_depth = L->call_depth};
    Frame frame = {NULL, L->frame};
    Frame *saved_frame = L->frame;
    L->g = body;
    L->scan = &sc;
    L->frame = &frame;
    for (int i = 0; i < h.nseq; i++) {
        IrType st = outer->nodes[outer_in[i]].type;
        for (int d = (int)axis; d < st.rank - 1; d++)
            st.dims[d] = st.dims[d + 1];
        st.rank--;
        frame_set(L, h.seq[i]->str, tensor_val(L, body_input(L, body, &st, i, h.seq[i]->loc)));
    }
    for (int j = 0; j < h.ncarry; j++)
        frame_set(L, h.carry[j]->str,
                  tensor_val(L, body_input(L, body, &outer->nodes[outer_in[h.nseq + j]].type, h.nseq + j, h.carry[j]->loc)));
    int errors_before = L->diag->errors;
    lower_block(L, &e->body);

    bool ok = L->diag->errors == errors_before; /* else the result would only repeat them */
    if (ok && sc.ncaptures > ATTN_LIMIT_SCAN_CAPTURES) {
        diag_error(L->diag, e->loc, "scan body captures %d values from outside, more than the limit of %d "
                   "(ATTN_LIMIT_SCAN_CAPTURES)", sc.ncaptures, ATTN_LIMIT_SCAN_CAPTURES);
        ok = false;
    }
    if (ok && sc.nyields + h.ncarry == 0) {
        diag_error(L->diag, e->loc, "scan gives nothing: its body neither yields nor carries a state");
        ok = false;
    }
    int nout = sc.nyields + h.ncarry;
    int *outs = arena_alloc(L->ar, sizeof(int) * (size_t)(nout + 1));
    ok = ok && outs;
    for (int i = 0; i < sc.nyields && ok; i++) {
        if (sc.yields[i].k != V_TENSOR) {
            if (sc.yields[i].k != V_ERR)
                diag_error(L->diag, e->loc, "yield gives tensors, got %s", val_describe(L, sc.yields[i]));
            ok = false;
            break;
        }
        outs[i] = use(L, sc.yields[i]);
    }
    for (int j = 0; j < h.ncarry && ok; j++) {
        Val v = err_val();
        for (Binding *b = frame.vars; b; b = b->next)
            if (strcmp(b->name, h.carry[j]->str) == 0)
                v = b->v;
        if (v.k != V_TENSOR) {
            if (v.k != V_ERR)
                diag_error(L->diag, h.carry[j]->loc, "state '%s' must stay a tensor, but the body makes it %s",
                           h.carry[j]->str, val_describe(L, v));
            ok = false;
            break;
        }
        outs[sc.nyields + j] = use(L, v);
        const IrType *a = &outer->nodes[outer_in[h.nseq + j]].type, *b = &body->nodes[outs[sc.nyields + j]].type;
        bool same = a->dtype == b->dtype && a->rank == b->rank;
        for (int d = 0; same && d < a->rank; d++)
            same = dim_equal(a->dims[d], b->dims[d]);
        if (!same) {
            diag_error(L->diag, h.carry[j]->loc, "state '%s' starts as %s but the body makes it %s", h.carry[j]->str,
                       type_text(L, a), type_text(L, b));
            ok = false;
        }
    }
    L->g = outer;
    L->scan = sc.parent;
    L->frame = saved_frame;
    if (!ok)
        return err_val();
    ir_set_outputs(L->ar, body, outs, nout);

    int nin = h.nseq + h.ncarry + sc.ncaptures;
    int *in = arena_alloc(L->ar, sizeof(int) * (size_t)nin);
    if (!in)
        return err_val();
    memcpy(in, outer_in, sizeof(int) * (size_t)(h.nseq + h.ncarry));
    int k = h.nseq + h.ncarry;
    for (Capture *c = sc.captures; c; c = c->next)
        in[k++] = c->outer_node;
    int id = ir_add(L->ar, outer, OP_SCAN, in, nin, e->loc);
    IrNode *n = &outer->nodes[id];
    n->body = body;
    n->scan = (IrScan){h.nseq, h.ncarry, sc.ncaptures, sc.nyields, (int)axis, h.reverse, steps};
    Val result = {.k = V_TUPLE, .n = nout, .items = arena_alloc(L->ar, sizeof(Val) * (size_t)(nout + 1))};
    if (!result.items)
        return err_val();
    for (int i = 0; i < nout; i++) {
        IrType t = body->nodes[outs[i]].type;
        if (i < sc.nyields) { /* stacked along the axis */
            if (t.rank >= ATTN_MAX_RANK || axis > t.rank) {
                diag_error(L->diag, e->loc, "yielded value %s cannot be stacked along axis %lld", type_text(L, &t), (long long)axis);
                return err_val();
            }
            for (int d = t.rank; d > axis; d--)
                t.dims[d] = t.dims[d - 1];
            t.dims[axis] = steps;
            t.rank++;
        }
        int r = ir_add(L->ar, outer, OP_RESULT, &id, 1, e->loc);
        outer->nodes[r].attrs.axis = i;
        outer->nodes[r].type = t;
        result.items[i] = tensor_val(L, r);
    }
    return nout == 1 ? result.items[0] : result;
}
