/*
 * onnx_ops_rnn.c — ONNX's GRU, LSTM and RNN as `scan`s over time, written
 * out in .attn with ONNX's gate order (GRU z, r, h; LSTM i, o, f, c), both
 * directions, initial states, `layout`, GRU's `linear_before_reset`, LSTM
 * peepholes, and `sequence_lens` as a masked recurrence: a step past a
 * sequence's length keeps its state and yields zeros, which is also what
 * the reverse direction needs (it starts at each sequence's last step).
 */
#include <string.h>

#include "onnx_imp.h"

typedef enum { CELL_RNN, CELL_GRU, CELL_LSTM } Cell;

typedef struct {
    Cell cell;
    int gates;
    const char *x;      /* the input, time-major [T, B, I] */
    const char *w, *r;  /* W [D, G*H, I], R [D, G*H, H] */
    const char *b;      /* B [D, 2*G*H], or NULL */
    const char *h0, *c0, *p; /* initial states [D, B, H], peepholes [D, 3H]; or NULL */
    const char *pad;    /* [T, B, 1] bool: true past a sequence's length; or NULL */
    const char *act;    /* RNN's activation: tanh, relu, sigmoid */
    bool lbr;           /* GRU linear_before_reset */
    Dim t, bsz, hid;
} Rnn;

/* The scan of direction d; returns the names of its outputs (ys, h_n[, c_n]). */
static void direction(Imp *im, const Rnn *n, int d, bool reverse, const char *out, const char **ys, const char **hn,
                      const char **cn) {
    Dim ydims[3] = {n->t, n->bsz, n->hid}, sdims[2] = {n->bsz, n->hid};
    const char *tag = imp_fmt(im, "%s#dir%d", out, d);
    Val *y = imp_bind(im, imp_fmt(im, "%s#ys", tag), ATTN_F32, 3, ydims);
    Val *h = imp_bind(im, imp_fmt(im, "%s#h", tag), ATTN_F32, 2, sdims);
    Val *c = n->cell == CELL_LSTM ? imp_bind(im, imp_fmt(im, "%s#c", tag), ATTN_F32, 2, sdims) : NULL;
    int g = n->gates;
    const char *gh = imp_fmt(im, "%d", g), *hs = odim_text(im, n->hid);
    const char *zeros = imp_fmt(im, "zeros([%s, %s])", odim_text(im, n->bsz), hs);
    const char *h0 = n->h0 ? imp_fmt(im, "%s[%d]", n->h0, d) : zeros;
    const char *c0 = n->c0 ? imp_fmt(im, "%s[%d]", n->c0, d) : zeros;
    /* W and R of the direction; the biases as input and recurrent halves */
    const char *wb = n->b ? imp_fmt(im, "%s[%d, 0:%s * %s]", n->b, d, gh, hs) : NULL;
    const char *rb = n->b ? imp_fmt(im, "%s[%d, %s * %s:]", n->b, d, gh, hs) : NULL;
    const char *gx = imp_fmt(im, "%s @ %s[%d].T%s%s", n->x, n->w, d, wb ? " + " : "", wb ? wb : "");
    const char *rh = imp_fmt(im, "h @ %s[%d].T%s%s", n->r, d, rb ? " + " : "", rb ? rb : "");
    const char *seqs = imp_fmt(im, "g in %s%s", gx, n->pad ? imp_fmt(im, ", pad in %s", n->pad) : "");
    const char *states = c ? imp_fmt(im, "h = %s, c = %s", h0, c0) : imp_fmt(im, "h = %s", h0);
    const char *targets = c ? imp_fmt(im, "%s, %s, %s", y->var, h->var, c->var) : imp_fmt(im, "%s, %s", y->var, h->var);
    imp_stmt(im, "%s = scan(%s, %s, axis = 0, reverse = %s) {", targets, seqs, states, reverse ? "true" : "false");
    const char *in = im->scope ? "      " : "    ";
    switch (n->cell) {
    case CELL_RNN:
        imp_put(im, &im->body, "%sh_new = %s(g + %s)\n", in, n->act, rh);
        break;
    case CELL_GRU:
        imp_put(im, &im->body, "%sgz, gr, gh = split(g, 3)\n", in);
        if (n->lbr) {
            imp_put(im, &im->body, "%srz, rr, rh = split(%s, 3)\n", in, rh);
            imp_put(im, &im->body, "%sz = sigmoid(gz + rz)\n%sr = sigmoid(gr + rr)\n%sn = tanh(gh + r * rh)\n", in, in,
                    in);
        } else { /* the reset gate scales h before the recurrent matmul of the candidate */
            imp_put(im, &im->body, "%srz_w, rr_w, rh_w = split(%s[%d], 3, axis = 0)\n", in, n->r, d);
            if (rb)
                imp_put(im, &im->body, "%srz_b, rr_b, rh_b = split(%s, 3)\n", in, rb);
            imp_put(im, &im->body, "%sz = sigmoid(gz + h @ rz_w.T%s)\n%sr = sigmoid(gr + h @ rr_w.T%s)\n", in,
                    rb ? " + rz_b" : "", in, rb ? " + rr_b" : "");
            imp_put(im, &im->body, "%sn = tanh(gh + (r * h) @ rh_w.T%s)\n", in, rb ? " + rh_b" : "");
        }
        imp_put(im, &im->body, "%sh_new = (1 - z) * n + z * h\n", in);
        break;
    case CELL_LSTM:
        imp_put(im, &im->body, "%sgi, go, gf, gc = split(g + %s, 4)\n", in, rh);
        if (n->p) {
            imp_put(im, &im->body, "%spi, po, pf = split(%s[%d], 3)\n", in, n->p, d);
            imp_put(im, &im->body, "%sgi = gi + pi * c\n%sgf = gf + pf * c\n", in, in);
        }
        imp_put(im, &im->body, "%sc_new = sigmoid(gf) * c + sigmoid(gi) * tanh(gc)\n", in);
        imp_put(im, &im->body, "%sh_new = sigmoid(go%s) * tanh(c_new)\n", in, n->p ? " + po * c_new" : "");
        break;
    }
    if (n->pad) {
        imp_put(im, &im->body, "%sh = where(pad, h, h_new)\n", in);
        if (c)
            imp_put(im, &im->body, "%sc = where(pad, c, c_new)\n", in);
        imp_put(im, &im->body, "%syield where(pad, 0.0, h_new)\n", in);
    } else {
        imp_put(im, &im->body, "%sh = h_new\n", in);
        if (c)
            imp_put(im, &im->body, "%sc = c_new\n", in);
        imp_put(im, &im->body, "%syield h_new\n", in);
    }
    imp_put(im, &im->body, "%s}\n", im->scope ? "    " : "  ");
    *ys = y->var;
    *hn = h->var;
    *cn = c ? c->var : NULL;
}

static const char *activation(Imp *im, ImpNode *nd, Cell cell) {
    const Onnx__AttributeProto *a = imp_attr(nd, "activations");
    static const char *const dflt[] = {"Tanh", "Sigmoid,Tanh,Tanh", "Sigmoid,Tanh,Tanh"};
    if (!a)
        return "tanh";
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS)
        imp_node_fail(im, "attribute 'activations' must be strings");
    const char *list = "";
    for (size_t i = 0; i < a->n_strings; i++)
        list = imp_fmt(im, "%s%s%.*s", list, i ? "," : "", (int)a->strings[i].len, (const char *)a->strings[i].data);
    if (cell == CELL_RNN) { /* one per direction, all the same */
        const char *first = a->n_strings ? imp_fmt(im, "%.*s", (int)a->strings[0].len, (const char *)a->strings[0].data) : "";
        for (size_t i = 1; i < a->n_strings; i++)
            if (a->strings[i].len != a->strings[0].len || memcmp(a->strings[i].data, a->strings[0].data, a->strings[0].len))
                imp_node_fail(im, "activations %s: attn takes one activation for both directions", list);
        if (!strcmp(first, "Tanh"))
            return "tanh";
        if (!strcmp(first, "Relu"))
            return "relu";
        if (!strcmp(first, "Sigmoid"))
            return "sigmoid";
        imp_node_fail(im, "activation %s is not supported (Tanh, Relu, Sigmoid are)", first);
    }
    for (size_t i = 0; i < a->n_strings; i++) {
        const char *want = i % 3 == 0 ? "Sigmoid" : "Tanh";
        if (a->strings[i].len != strlen(want) || memcmp(a->strings[i].data, want, strlen(want)))
            imp_node_fail(im, "activations %s: attn imports the defaults (%s) only", list, dflt[cell]);
    }
    return "tanh";
}

static void op_recurrent(Imp *im, ImpNode *nd) {
    const char *op = nd->n->op_type;
    Rnn n = {.cell = !strcmp(op, "GRU") ? CELL_GRU : !strcmp(op, "LSTM") ? CELL_LSTM : CELL_RNN};
    n.gates = n.cell == CELL_GRU ? 3 : n.cell == CELL_LSTM ? 4 : 1;
    n.act = activation(im, nd, n.cell);
    if (imp_attr(nd, "clip"))
        imp_node_fail(im, "attribute 'clip' is not supported");
    if (imp_attr_int(im, nd, "input_forget", 0))
        imp_node_fail(im, "input_forget = 1 is not supported");
    const char *dir = imp_attr_str(im, nd, "direction", "forward");
    int ndir = !strcmp(dir, "bidirectional") ? 2 : 1;
    bool reverse = !strcmp(dir, "reverse");
    if (ndir == 1 && !reverse && strcmp(dir, "forward"))
        imp_node_fail(im, "direction '%.40s'", dir);
    int64_t layout = imp_attr_int(im, nd, "layout", 0);
    if (layout != 0 && layout != 1)
        imp_node_fail(im, "layout %lld", (long long)layout);
    n.lbr = imp_attr_int(im, nd, "linear_before_reset", 0) != 0;
    Val *x = nd->in[0], *w = nd->in[1], *r = nd->in[2];
    Val *b = nd->nin > 3 ? nd->in[3] : NULL, *lens = nd->nin > 4 ? nd->in[4] : NULL;
    Val *h0 = nd->nin > 5 ? nd->in[5] : NULL, *c0 = nd->nin > 6 ? nd->in[6] : NULL, *p = nd->nin > 7 ? nd->in[7] : NULL;
    imp_need_dtype(im, x, "X", DT_BIT(ATTN_F32));
    if (x->rank != 3 || w->rank != 3 || r->rank != 3)
        imp_node_fail(im, "X, W and R must have rank 3");
    n.t = x->dim[layout ? 1 : 0];
    n.bsz = x->dim[layout ? 0 : 1];
    if (!odim_is_const(w->dim[0]) || w->dim[0].c != ndir)
        imp_node_fail(im, "W has %s directions; the direction attribute says %d", odim_text(im, w->dim[0]), ndir);
    n.hid = r->dim[2];
    if (!odim_eq(w->dim[1], odim_mul(im, n.hid, odim_const(n.gates))))
        imp_node_fail(im, "W has %s rows; %d gates of %s need %d times that", odim_text(im, w->dim[1]), n.gates,
                      odim_text(im, n.hid), n.gates);
    int64_t hsz = imp_attr_int(im, nd, "hidden_size", n.hid.c);
    if (!odim_is_const(n.hid) || hsz != n.hid.c)
        imp_node_fail(im, "hidden_size %lld does not match R's %s", (long long)hsz, odim_text(im, n.hid));
    const char *xs = imp_ref_tensor(im, x);
    n.x = layout ? imp_fmt(im, "permute(%s, [1, 0, 2])", xs) : xs;
    n.w = imp_ref_tensor(im, w);
    n.r = imp_ref_tensor(im, r);
    n.b = b ? imp_ref_tensor(im, b) : NULL;
    /* initial states are [D, B, H], or [B, D, H] with layout 1 */
    const char *perm = "[1, 0, 2]";
    n.h0 = h0 ? (layout ? imp_fmt(im, "permute(%s, %s)", imp_ref_tensor(im, h0), perm) : imp_ref_tensor(im, h0)) : NULL;
    n.c0 = c0 ? (layout ? imp_fmt(im, "permute(%s, %s)", imp_ref_tensor(im, c0), perm) : imp_ref_tensor(im, c0)) : NULL;
    n.p = p ? imp_ref_tensor(im, p) : NULL;
    const char *out = *imp_out(nd, 0) ? imp_out(nd, 0) : nd->nout > 1 ? imp_out(nd, 1) : imp_out(nd, 2);
    if (lens) {
        imp_need_dtype(im, lens, "sequence_lens", DT_BIT(ATTN_I32) | DT_BIT(ATTN_I64));
        Dim pd[3] = {n.t, n.bsz, odim_const(1)};
        Val *pad = imp_emit(im, imp_fmt(im, "%s#pad", out), ATTN_BOOL, 3, pd,
                            "unsqueeze(permute(length_mask(i64(%s), %s), [1, 0]), 2)", imp_ref_tensor(im, lens),
                            odim_text(im, n.t));
        n.pad = pad->var;
    }
    const char *ys[2], *hn[2], *cn[2];
    for (int d = 0; d < ndir; d++)
        direction(im, &n, d, reverse || d == 1, out, &ys[d], &hn[d], &cn[d]);
    /* Y [T, D, B, H] (layout 1: [B, T, D, H]); Y_h, Y_c [D, B, H] (layout 1: [B, D, H]) */
    Dim yd[4] = {n.t, odim_const(ndir), n.bsz, n.hid}, sd[3] = {odim_const(ndir), n.bsz, n.hid};
    if (layout) {
        yd[0] = n.bsz;
        yd[1] = n.t;
        yd[2] = odim_const(ndir);
        sd[0] = n.bsz;
        sd[1] = odim_const(ndir);
    }
    const char *y_all = ndir == 2 ? imp_fmt(im, "stack([%s, %s], axis = 1)", ys[0], ys[1])
                                  : imp_fmt(im, "unsqueeze(%s, 1)", ys[0]);
    const char *h_all = ndir == 2 ? imp_fmt(im, "stack([%s, %s], axis = 0)", hn[0], hn[1])
                                  : imp_fmt(im, "unsqueeze(%s, 0)", hn[0]);
    if (*imp_out(nd, 0))
        imp_emit(im, imp_out(nd, 0), ATTN_F32, 4, yd, layout ? "permute(%s, [2, 0, 1, 3])" : "%s", y_all);
    if (nd->nout > 1 && *imp_out(nd, 1))
        imp_emit(im, imp_out(nd, 1), ATTN_F32, 3, sd, layout ? "permute(%s, [1, 0, 2])" : "%s", h_all);
    if (n.cell == CELL_LSTM && nd->nout > 2 && *imp_out(nd, 2)) {
        const char *c_all = ndir == 2 ? imp_fmt(im, "stack([%s, %s], axis = 0)", cn[0], cn[1])
                                      : imp_fmt(im, "unsqueeze(%s, 0)", cn[0]);
        imp_emit(im, imp_out(nd, 2), ATTN_F32, 3, sd, layout ? "permute(%s, [1, 0, 2])" : "%s", c_all);
    }
}

const ImpOp imp_ops_rnn[] = {
    {"RNN", op_recurrent, 3, 6, 0, 2, "activations clip direction hidden_size layout", 7},
    {"GRU", op_recurrent, 3, 6, 0, 2,
     "activations clip direction hidden_size layout linear_before_reset", 7},
    {"LSTM", op_recurrent, 3, 8, 0, 3,
     "activations clip direction hidden_size input_forget layout", 7},
    {NULL, NULL, 0, 0, 0, 0, NULL, 0},
};
